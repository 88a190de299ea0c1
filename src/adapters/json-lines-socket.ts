/**
 * A unix stream socket that reads newline-separated records from whoever connects (the agent's
 * ulogd2 writes its JSON output here, one object a line, and reconnects after a restart). A
 * stale socket file left by an earlier run is replaced. Records are handed over as text; a line
 * longer than `maxLine` is cut off and dropped (counted through `onOverlong`), so a misbehaving
 * writer cannot grow the agent's memory.
 */

import { createServer, type Server, type Socket } from 'node:net';
import { rmSync } from 'node:fs';

export interface JsonLinesSocket {
  close(): Promise<void>;
}

export async function listenJsonLines(
  path: string,
  onLine: (line: string) => void,
  o: { maxLine?: number; onOverlong?: () => void } = {},
): Promise<JsonLinesSocket> {
  const maxLine = o.maxLine ?? 64 * 1024;
  const clients = new Set<Socket>();
  const server: Server = createServer((sock) => {
    clients.add(sock);
    let buffered = '';
    let skipping = false;
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => {
      let start = 0;
      for (let nl = chunk.indexOf('\n'); nl >= 0; nl = chunk.indexOf('\n', start)) {
        const piece = chunk.slice(start, nl);
        start = nl + 1;
        if (skipping) skipping = false;
        else {
          const line = buffered + piece;
          if (line.trim() !== '') onLine(line);
        }
        buffered = '';
      }
      if (skipping) return;
      buffered += chunk.slice(start);
      if (buffered.length > maxLine) {
        buffered = '';
        skipping = true;
        o.onOverlong?.();
      }
    });
    sock.on('error', () => sock.destroy());
    sock.on('close', () => clients.delete(sock));
  });
  rmSync(path, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new Error(`listen on ${path}: ${err.message}`, { cause: err })));
    server.listen(path, resolve);
  });
  return {
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of clients) c.destroy();
        server.close(() => {
          rmSync(path, { force: true });
          resolve();
        });
      }),
  };
}
