// The etcd store's flags, the same on every command that opens the store (agent, leases, net-conf).
import type { Command } from 'commander';

export function etcdOptions(cmd: Command): Command {
  return cmd
    .option('--etcd-endpoints <urls>', 'etcd store: comma-separated client URLs', 'http://127.0.0.1:2379')
    .option('--etcd-prefix <prefix>', "etcd store: key prefix (Flannel's layout)", '/coreos.com/network')
    .option('--etcd-cafile <file>', "etcd store: the CA that signed etcd's server certificate (TLS)")
    .option('--etcd-certfile <file>', "etcd store: this client's certificate, for etcd's --client-cert-auth")
    .option('--etcd-keyfile <file>', "etcd store: this client's private key");
}
