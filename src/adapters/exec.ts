/**
 * The one place in weft that spawns processes. Always an argv array, never a shell; a failure
 * becomes an ExecError that carries argv, exit code, signal, stderr and the caller's context.
 */

import { spawn } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import { ExecError, type Exec, type ExecRequest, type ExecResult } from '../ports/exec.js';

/** nsenter from util-linux enters a namespace given by path, which `ip -n` cannot. */
function argvFor(req: ExecRequest): readonly string[] {
  return req.netns ? ['nsenter', `--net=${req.netns}`, '--', ...req.argv] : req.argv;
}

function spawnOnce(req: ExecRequest): Promise<ExecResult & { signal: string | null }> {
  const argv = argvFor(req);
  return new Promise((resolve, reject) => {
    const [program, ...args] = argv;
    if (!program) {
      reject(new Error('exec: empty argv'));
      return;
    }
    const child = spawn(program, args, {
      env: req.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: req.timeoutMs,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => {
      reject(new ExecError(argv, null, null, '', e.message, req.context, { cause: e }));
    });
    child.on('close', (code, signal) => {
      resolve({
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        exitCode: code ?? -1,
        signal,
      });
    });
    // A child that exits before reading stdin makes the write fail with EPIPE; its exit status
    // tells the real story, so the write error is deliberately not reported on its own.
    child.stdin.on('error', () => undefined);
    child.stdin.end(req.input ?? '');
  });
}

export class NodeExec implements Exec {
  async run(req: ExecRequest): Promise<ExecResult> {
    const r = await spawnOnce(req);
    if (r.exitCode !== 0 || r.signal) {
      throw new ExecError(argvFor(req), r.signal ? null : r.exitCode, r.signal, r.stdout, r.stderr, req.context);
    }
    return { stdout: r.stdout, stderr: r.stderr, exitCode: 0 };
  }

  async tryRun(req: ExecRequest): Promise<ExecResult> {
    const r = await spawnOnce(req);
    return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode };
  }
}

/**
 * Runs a program attached to this process's terminal (stdin, stdout and stderr inherited), as
 * `weft exec` does, and resolves with its exit code (128 + signal number when it was killed).
 */
export function runAttached(req: Pick<ExecRequest, 'argv' | 'netns'>): Promise<number> {
  const [program, ...args] = argvFor(req);
  if (!program) return Promise.reject(new Error('exec: empty argv'));
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { stdio: 'inherit' });
    child.on('error', (err) => reject(new Error(`${req.argv.join(' ')}: ${err.message}`, { cause: err })));
    child.on('exit', (code, signal) => resolve(code ?? 128 + (signal ? (osConstants.signals[signal] ?? 0) : 0)));
  });
}
