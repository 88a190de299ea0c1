/**
 * The flow log's NFLOG reader (src/adapters/nflog.ts with native/netns/nflog.c) against the real
 * kernel, in a namespace of this test's own (prefix weft-nfl-): packets an nftables rule logs to
 * the group arrive with their prefix, addresses, protocol, ports and the group's sequence
 * numbers, in order; a second reader of the same group is refused with EPERM naming the group;
 * and closing the reader frees the group for the next one. The reader binds in the calling
 * thread's namespace, so it runs in a child process entered into the test's namespace.
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Netns, inNs, mustInNs } from './support/netns.js';
import type { NflogPacket } from '../src/core/flows/nflog.js';

const READER = fileURLToPath(new URL('../src/adapters/nflog.js', import.meta.url));
const GROUP = 27;

/**
 * A reader in namespace `ns`: prints "ready" (or the open error's code and message as JSON), then
 * one JSON line per packet; with `once`, it closes after the first packet and opens a new reader,
 * printing "reopened".
 */
function startReader(ns: string, once = false): { child: ChildProcess; lines: string[]; next: () => Promise<string> } {
  const script = `
    const { openNflogReader } = await import(${JSON.stringify(READER)});
    const out = (x) => process.stdout.write((typeof x === 'string' ? x : JSON.stringify(x)) + '\\n');
    const open = () => openNflogReader({ group: ${GROUP}, now: () => Date.now() }, {
      packet: (p) => { out(p); if (${once} && !reopened) { reopened = true; r.close(); r = open(); out('reopened'); } },
      unreadable: (why) => out({ unreadable: why }),
      failed: (err) => out({ failed: err.message }),
    });
    let reopened = false;
    let r;
    try { r = open(); out('ready'); } catch (err) { out({ code: err.code, message: err.message }); process.exit(0); }
    setInterval(() => {}, 1000);`;
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines: string[] = [];
  const waiting: Array<(l: string) => void> = [];
  createInterface({ input: child.stdout! }).on('line', (l) => {
    const w = waiting.shift();
    if (w) w(l);
    else lines.push(l);
  });
  const next = () =>
    new Promise<string>((resolve, reject) => {
      const l = lines.shift();
      if (l !== undefined) return resolve(l);
      const t = setTimeout(() => reject(new Error('no line from the reader within 10 s')), 10_000);
      waiting.push((x) => {
        clearTimeout(t);
        resolve(x);
      });
    });
  return { child, lines, next };
}

describe('NFLOG reader', () => {
  const fx = new Netns('weft-nfl-');
  let ns = '';
  const children: ChildProcess[] = [];

  before(() => {
    ns = fx.add('a');
    mustInNs(ns, [
      'nft',
      [
        'add table inet t',
        'add chain inet t out { type filter hook output priority 0; }',
        `add rule inet t out tcp dport 9 ct state new log group ${GROUP} prefix "weft a c 0"`,
        `add rule inet t out udp dport 9 log group ${GROUP} prefix "weft d c"`,
      ].join('; '),
    ]);
  });
  after(() => {
    for (const c of children) c.kill('SIGKILL');
    fx.cleanup();
  });

  test('logged packets arrive parsed and numbered; the group has one reader; a closed reader frees it', async () => {
    const a = startReader(ns, true);
    children.push(a.child);
    assert.equal(await a.next(), 'ready');
    // Another reader of the group in the same namespace is refused.
    const b = startReader(ns);
    children.push(b.child);
    const refused = JSON.parse(await b.next()) as { code: string; message: string };
    assert.equal(refused.code, 'EPERM');
    assert.match(refused.message, new RegExp(`^bind and configure NFLOG group ${GROUP}: EPERM`));

    // A TCP connection attempt (refused: nothing listens) logs its SYN; a UDP datagram.
    inNs(ns, ['bash', '-c', 'echo > /dev/tcp/127.0.0.1/9']);
    const first = JSON.parse(await a.next()) as NflogPacket;
    assert.equal(await a.next(), 'reopened', 'the reader closed and a new one bound the group');
    inNs(ns, ['bash', '-c', 'echo > /dev/tcp/127.0.0.1/9; echo x > /dev/udp/127.0.0.1/9']);
    const tcp = JSON.parse(await a.next()) as NflogPacket;
    const udp = JSON.parse(await a.next()) as NflogPacket;
    const strip = (p: NflogPacket) => ({ ...p, time: 0, sport: p.sport === undefined ? undefined : 1 });
    assert.deepEqual(strip(first), {
      time: 0,
      prefix: 'weft a c 0',
      protocol: 'TCP',
      saddr: '127.0.0.1',
      daddr: '127.0.0.1',
      sport: 1,
      dport: 9,
      seq: 0,
    });
    assert.deepEqual(strip(tcp), { ...strip(first), seq: 0 }, "the new reader's group numbers from 0 again");
    assert.deepEqual(strip(udp), { ...strip(first), prefix: 'weft d c', protocol: 'UDP', seq: 1 });
    assert.ok(Math.abs(first.time - Date.now()) < 60_000, 'a time near now');
    assert.deepEqual(a.lines, [], 'nothing else: no unreadable message, no failure');
  });
});
