/**
 * The bridge (proxy.ts): run by nix-overlay-jail in the jail's network namespace
 * (`nsenter --target PID --user --net`), as the caller, with the host's filesystem. It
 * listens on the jail's 127.0.0.1 at the proxy's port and at each allowed localhost port, and
 * joins every connection to the matching Unix socket in DIR. It says `ready` on its standard
 * output once it listens, and ends when its standard input does: when nix-overlay-jail closes
 * it after the jail, or dies however it dies.
 *
 *   nix-overlay-jail __net-bridge DIR PROXY-PORT [LOCAL-PORT...]
 */
import net from 'node:net';
import path from 'node:path';
import process from 'node:process';
import {join, localSocket, PROXY_SOCKET} from './proxy.js';

export const BRIDGE_COMMAND = '__net-bridge';

export const runBridge = async (args: readonly string[]): Promise<number> => {
  const [dir, proxy, ...locals] = args;
  if (dir === undefined || proxy === undefined) {
    process.stderr.write('nix-overlay-jail: __net-bridge DIR PROXY-PORT [LOCAL-PORT...] (started by exec, not by hand)\n');
    return 125;
  }
  process.stdin.on('data', () => undefined);
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  const routes: Array<[number, string]> = [[Number(proxy), PROXY_SOCKET], ...locals.map((port): [number, string] => [Number(port), localSocket(Number(port))])];
  await Promise.all(routes.map(([port, name]) => new Promise<void>((resolve, reject) => {
    const server = net.createServer(client => join(client, net.connect(path.join(dir, name))));
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  })));
  process.stdout.write('ready\n');
  // Runs until its standard input ends.
  return new Promise<number>(() => undefined);
};
