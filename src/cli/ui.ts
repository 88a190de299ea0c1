// `weft ui [--lab NAME] [--port 8080] [--address 127.0.0.1]`: the lab's live dashboard (topology, reachability with the last probe, services, flows, policies) in a browser.
import { isIP } from 'node:net';
import type { Command } from 'commander';
import { openLab, parsePort, withLabOption } from './lab-common.js';

export function registerUi(program: Command): void {
  withLabOption(
    program
      .command('ui')
      .description(
        "serve the lab's live dashboard: topology, the weft reach matrix with explain, trace and the last weft probe, services, the flow log and policies (on 127.0.0.1 unless --address says otherwise)",
      )
      .option('--port <port>', 'the port to serve on (0: any free port, printed)', '8080')
      .option('--address <ip>', 'the address to listen on (0.0.0.0 serves every interface)', '127.0.0.1'),
  ).action(async (flags: { port: string; address: string; lab?: string }) => {
    const port = flags.port === '0' ? 0 : parsePort(flags.port);
    if (isIP(flags.address) === 0) throw new Error(`--address: "${flags.address}" is not an IP address`);
    const { UiServer } = await import('../lab/ui-server.js');
    const lab = openLab(flags);
    let server;
    try {
      server = await UiServer.start({
        lab,
        port,
        address: flags.address,
        log: (line) => process.stderr.write(`${line}\n`),
      });
    } catch (err) {
      await lab.close();
      throw err;
    }
    process.stdout.write(`weft ui: lab ${lab.paths.name} on ${server.url}\n`);
    const stop = () => {
      void server.stop().then(async () => {
        await lab.close();
        process.exit(0);
      });
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
