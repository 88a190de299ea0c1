/**
 * Reading a pod container's log for `weft logs`: the file the lab's kubelet appends the program's
 * stdout and stderr to (./program-runner.ts), whole or its last lines, and followed as it grows
 * (from the start again when the runner truncated it on rotation, as `tail -F` does).
 */

import { closeSync, existsSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import type { Pod } from '../core/k8s/objects.js';
import { containerLogPath, runsProgram } from './program-runner.js';

/** The last `n` lines of `text` (a trailing newline ends the last line, it does not start another). */
export function lastLines(text: string, n: number): string {
  if (n <= 0) return '';
  const lines = text.split('\n');
  const trailing = lines[lines.length - 1] === '';
  if (trailing) lines.pop();
  const tail = lines.slice(-n).join('\n');
  return tail === '' ? '' : trailing ? `${tail}\n` : tail;
}

/**
 * The log file of `container` of `pod` (the only container when omitted; the first, with a note
 * for stderr, when there are several, as kubectl does). Throws with the reason when there is none.
 */
export function podLogFile(
  pod: Pod,
  logDir: string,
  container: string | undefined,
): { file: string; container: string; note?: string } {
  const { namespace, name } = pod.metadata;
  const cs = pod.spec.containers;
  const chosen = container === undefined ? cs[0] : cs.find((c) => c.name === container);
  if (!chosen)
    throw new Error(
      `container ${container ?? ''} is not valid for pod ${namespace}/${name}: choose one of [${cs.map((c) => c.name).join(' ')}]`,
    );
  if (!runsProgram(chosen))
    throw new Error(
      `container ${chosen.name} of pod ${namespace}/${name} runs no program (it has no command): the lab serves its ports itself and it has no log`,
    );
  const note =
    container === undefined && cs.length > 1
      ? `Defaulted container "${chosen.name}" out of: ${cs.map((c) => c.name).join(', ')}`
      : undefined;
  return { file: containerLogPath(logDir, chosen.name), container: chosen.name, ...(note ? { note } : {}) };
}

/** The log's text now and its size in bytes (empty before the program has written anything). */
export function readLog(file: string): { text: string; size: number } {
  if (!existsSync(file)) return { text: '', size: 0 };
  const bytes = readFileSync(file);
  return { text: bytes.toString('utf8'), size: bytes.length };
}

/**
 * Writes what is appended to `file` after byte `from` to `write`, looking every `everyMs`, until
 * `signal` aborts; a file that shrank (rotated) is read again from its start.
 */
export async function followLog(
  file: string,
  from: number,
  write: (text: string) => void,
  everyMs: number,
  signal: AbortSignal,
): Promise<void> {
  let offset = from;
  while (!signal.aborted) {
    const size = existsSync(file) ? statSync(file).size : 0;
    if (size < offset) offset = 0;
    if (size > offset) {
      const fd = openSync(file, 'r');
      try {
        const buf = Buffer.alloc(Math.min(size - offset, 1 << 20));
        const n = readSync(fd, buf, 0, buf.length, offset);
        offset += n;
        write(buf.subarray(0, n).toString('utf8'));
      } finally {
        closeSync(fd);
      }
      continue;
    }
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, everyMs);
      signal.addEventListener(
        'abort',
        () => {
          clearTimeout(t);
          resolve();
        },
        { once: true },
      );
    });
  }
}
