/**
 * --allow-host and --allow-localhost-port, for real: HTTPS servers on 127.0.0.2 (allowed.test,
 * sub.wild.test, wild.test, h0…h19.many.test) and 127.0.0.3 (denied.test), named by a hosts
 * file bound over /etc/hosts in a mount namespace of the run's own (where the proxy resolves
 * them), reached by Debian's curl patched into the store; for every mounting way, as root and
 * as an ordinary user, and through a wrap launcher. What must not get out is tried from inside:
 * a direct connection to either server, a UDP datagram and a DNS query to listeners on the
 * host's loopback, an abstract Unix socket the host listens on. The proxy's bridge is gone
 * after the jail, also when nix-overlay-jail is SIGKILLed; 20 jails at once, each with hosts
 * of its own.
 */
import {spawn} from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {anyProcess, collect, eventually, startCollecting, tempDir, type Collected, type Exit} from '../helpers/cli.js';
import {launcherCommand, mountingWays} from '../helpers/callers.js';
import {TEST_USER, when} from '../helpers/env.js';
import {buildFixture, debianPrograms} from '../helpers/nix.js';
import {tally} from '../helpers/tally.js';
import {makeTestCa, startHttpsServer, type HttpsServer, type TestCa} from '../helpers/tls.js';

const MANY = 20;

interface World {
  ca: TestCa;
  bundle: string;
  hosts: string;
  servers: HttpsServer[];
  curl: string;
  programs: string;
  app: string;
}

let world: World | undefined;
const setUp = async (): Promise<World> => {
  if (world !== undefined) return world;
  const dir = tempDir('network');
  fs.chmodSync(dir, 0o755);
  const ca = makeTestCa(dir, ['allowed.test', 'denied.test', 'wild.test', '*.wild.test', '*.many.test']);
  const bundle = path.join(dir, 'ca.pem');
  fs.writeFileSync(bundle, ca.caPem, {mode: 0o644});
  const hosts = path.join(dir, 'hosts');
  fs.writeFileSync(hosts, [
    '127.0.0.1 localhost',
    '127.0.0.2 allowed.test sub.wild.test wild.test',
    '127.0.0.3 denied.test',
    ...Array.from({length: MANY}, (_, index) => `127.0.0.2 h${index}.many.test`),
  ].join('\n') + '\n', {mode: 0o644});
  const servers = [await startHttpsServer(ca, '127.0.0.2', 443, 'hello from allowed\n'), await startHttpsServer(ca, '127.0.0.3', 443, 'hello from denied\n')];
  const {programs} = debianPrograms(['curl']);
  world = {ca, bundle, hosts, servers, curl: `${programs}/bin/curl`, programs, app: buildFixture().app};
  return world;
};
process.on('exit', () => {
  for (const server of world?.servers ?? []) server.stop();
});

/** A command line run in a mount namespace of its own whose /etc/hosts names the test servers. */
const withHosts = (hosts: string, [command, argv]: [string, string[]]): [string, string[]] =>
  ['unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c', 'mount --bind "$0" /etc/hosts && exec "$@"', hosts, command, ...argv]];

/** A bridge of either kind (systemd's activator and proxy, or the Node one): its arguments name the proxy's directory. */
const bridgeRuns = (): boolean => anyProcess(cmdline => cmdline.includes('/nix-overlay-jail-net-'));

/** The two bridges: systemd's tools where the host has them (this one does), and Node's. */
const BRIDGES: ReadonlyArray<[string, NodeJS.ProcessEnv]> = [['systemd\'s socket proxy', {}], ['the Node bridge', {NIX_OVERLAY_JAIL_NODE_BRIDGE: '1'}]];

for (const caller of mountingWays) {
  const network = suite(`the network by host name, as ${caller.name}`);
  const networkTest = when(network, caller.needs);
  let cache = '';
  network.before(() => {
    if (caller.needs === undefined) cache = caller.cache();
  });
  const exec = (options: string[], script: string, env: NodeJS.ProcessEnv = {}): Collected => {
    const {hosts, bundle, app, programs} = world!;
    const [command, argv] = withHosts(hosts, caller.command(['exec', '--cache-dir', cache, '--also', programs, ...options, '--', `${app}/bin/sh`, '-c', script]));
    return collect(command, argv, {...caller.env(), NIX_SSL_CERT_FILE: bundle, ...env});
  };

  networkTest('curl reaches the allowed host over TLS and plain HTTP; a host, a parent of a wildcard and a port not allowed get a 403 naming the option', async () => {
    const {curl} = await setUp();
    // The proxy's answer to CONNECT, the server's, and curl's exit status.
    const got = (url: string): string => `${curl} -sS --max-time 20 -o /dev/null -w '%{http_connect} %{http_code} ' ${url} 2>/dev/null; echo "exit $?"`;
    for (const [bridge, env] of BRIDGES) {
      const result = exec(['--allow-host', 'allowed.test', '--allow-host', '*.wild.test', '--allow-host', 'allowed.test:8444'], [
        `${curl} -sS --max-time 20 https://allowed.test/`,
        got('https://sub.wild.test/'),
        got('https://denied.test/'),
        got('https://wild.test/'),
        got('https://allowed.test:8443/'),
        `${curl} -sS --max-time 20 http://denied.test/`,
        // Allowed, and nothing listens there: the proxy says so (502), and the tunnel never opens.
        got('https://allowed.test:8444/'),
      ].join('; '), env);
      assert.is(result.status, 0, `${bridge}: ${result.stderr}`);
      const lines = result.stdout.split('\n');
      assert.is(lines[0], 'hello from allowed');
      assert.is(lines[1], '200 200 exit 0', 'a name below the wildcard');
      for (const [index, what] of [[2, 'denied.test'], [3, 'the wildcard\'s parent'], [4, 'an allowed name on a port not allowed']] as const) {
        assert.is(lines[index], '403 000 exit 56', what);
      }
      assert.match(result.stdout, /denied\.test:80 is not allowed in this jail \(--allow-host denied\.test would allow it\)/);
      assert.match(result.stdout, /^502 000 exit 56$/m, 'an allowed host that does not answer');
      for (const refused of ['CONNECT denied.test:443', 'CONNECT wild.test:443', 'CONNECT allowed.test:8443', 'GET denied.test:80']) {
        assert.match(result.stderr, new RegExp(`refused ${refused.replace('.', '\\.')} from the jail`), `${bridge}: ${refused}`);
      }
    }
    const quiet = exec(['--allow-host', 'allowed.test', '--quiet'], `${curl} -sS --max-time 20 https://denied.test/ 2>/dev/null; echo "exit $?"`);
    assert.is(quiet.stdout, 'exit 56\n');
    assert.is(quiet.stderr, '');
    assert.not.ok(bridgeRuns(), 'no bridge after the jail');
    tally('escape', 3);
  });

  networkTest('nothing else gets out: a direct connection to either server, UDP and DNS to the host\'s loopback, an abstract Unix socket', async () => {
    const {curl} = await setUp();
    const received: string[] = [];
    const udp = dgram.createSocket('udp4').on('message', () => received.push('udp'));
    const dns = dgram.createSocket('udp4').on('message', () => received.push('dns'));
    const abstract = net.createServer(socket => {
      received.push('abstract');
      socket.end('reached\n');
    });
    await new Promise<void>(resolve => udp.bind(0, '127.0.0.1', () => resolve()));
    const dnsBound = await new Promise<boolean>(resolve => {
      dns.once('error', () => resolve(false));
      dns.bind(53, '127.0.0.1', () => resolve(true));
    });
    const name = `noj-test-${process.pid}`;
    await new Promise<void>(resolve => abstract.listen(`\0${name}`, () => resolve()));
    try {
      const result = exec(['--allow-host', 'allowed.test'], [
        `${curl} -sS --noproxy '*' --max-time 5 https://127.0.0.2/ 2>&1; echo "direct 2: $?"`,
        `${curl} -sS --noproxy '*' --max-time 5 --resolve denied.test:443:127.0.0.3 https://denied.test/ 2>&1; echo "direct 3: $?"`,
        // TFTP is UDP: its first datagram would reach the host's listener.
        `${curl} -sS --noproxy '*' --max-time 3 tftp://127.0.0.1:${(udp.address() as net.AddressInfo).port}/probe 2>&1; echo "udp: $?"`,
        `nslookup allowed.test 127.0.0.1 2>&1; echo "dns: $?"`,
        `${curl} -sS --noproxy '*' --max-time 5 --abstract-unix-socket ${name} http://x/ 2>&1; echo "abstract: $?"`,
      ].join('; '));
      assert.is(result.status, 0, result.stderr);
      assert.match(result.stdout, /^direct 2: 7$/m, result.stdout);
      assert.match(result.stdout, /^direct 3: 7$/m);
      assert.match(result.stdout, /^abstract: 7$/m);
      assert.not.match(result.stdout, /^dns: 0$/m);
      assert.not.match(result.stdout, /^udp: 0$/m);
      assert.not.match(result.stdout, /hello from/);
      await new Promise(resolve => setTimeout(resolve, 300));
      assert.equal(received, [], 'nothing reached the host\'s listeners');
      if (!dnsBound) assert.unreachable('port 53 on 127.0.0.1 was taken: the DNS probe had no resolver to miss');
    } finally {
      udp.close();
      dns.close();
      abstract.close();
    }
    tally('escape', 5);
  });

  /** exec, without blocking this process: for servers of its own that must answer meanwhile. */
  const execAsync = async (options: string[], script: string): Promise<Exit> => {
    const {hosts, bundle, app, programs} = world!;
    const [command, argv] = withHosts(hosts, caller.command(['exec', '--cache-dir', cache, '--also', programs, ...options, '--', `${app}/bin/sh`, '-c', script]));
    return startCollecting(command, argv, {...caller.env(), NIX_SSL_CERT_FILE: bundle});
  };

  networkTest('--allow-localhost-port reaches a loopback server on that port and not on another', async () => {
    await setUp();
    const {curl} = world!;
    const servers = await Promise.all([0, 1].map(index => new Promise<http.Server>(resolve => {
      const server = http.createServer((_request, response) => response.end(`loopback ${index}\n`));
      server.listen(0, '127.0.0.1', () => resolve(server));
    })));
    const [open, closed] = servers.map(server => (server.address() as net.AddressInfo).port) as [number, number];
    try {
      const result = await execAsync(['--allow-localhost-port', String(open)], [
        `${curl} -sS --noproxy '*' --max-time 10 http://127.0.0.1:${open}/`,
        `${curl} -sS --noproxy '*' --max-time 5 http://127.0.0.1:${closed}/ 2>&1; echo "other port: $?"`,
        `${curl} -sS --max-time 5 http://127.0.0.1:${closed}/ 2>&1; echo "through the proxy: $?"`,
      ].join('; '));
      assert.is(result.code, 0, result.stderr);
      assert.match(result.stdout, /^loopback 0$/m);
      assert.match(result.stdout, /^other port: 7$/m);
      assert.not.match(result.stdout, /loopback 1/);
      assert.match(result.stdout, /127\.0\.0\.1:\d+ is not allowed in this jail/);
    } finally {
      for (const server of servers) server.close();
    }
  });

  networkTest('the bridge is gone when nix-overlay-jail is SIGKILLed, and so is the jail, with either bridge', async () => {
    const {hosts, bundle, app, programs} = await setUp();
    for (const [bridge, env] of BRIDGES) {
      const [command, argv] = withHosts(hosts, caller.command(['exec', '--cache-dir', cache, '--also', programs, '--allow-host', 'allowed.test', '--', `${app}/bin/sh`, '-c', 'echo started; sleep 60']));
      const child = spawn(command, argv, {env: {...caller.env(), NIX_SSL_CERT_FILE: bundle, ...env}, stdio: ['ignore', 'pipe', 'pipe']});
      await new Promise<void>(resolve => child.stdout.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('started')) resolve();
      }));
      assert.ok(bridgeRuns(), `${bridge} runs beside the jail`);
      // unshare and sh exec: the process is nix-overlay-jail's own (setpriv execs too).
      child.kill('SIGKILL');
      assert.ok(await eventually(() => !bridgeRuns()), `${bridge} ended with nix-overlay-jail`);
      assert.ok(await eventually(() => !anyProcess(cmdline => cmdline.includes('echo started; sleep 60'))), 'the jail ended with it');
    }
    tally('fault', 2);
  });

  networkTest('options that would give the host\'s network, and patterns that are not names, are one line and exit 125', async () => {
    await setUp();
    for (const [options, message] of [
      [['--allow-host', 'allowed.test', '--net'], /not with --net or --share-net/],
      [['--allow-localhost-port', '80', '--share-net'], /not with --net or --share-net/],
      [['--allow-host', 'http://allowed.test'], /--allow-host "http:\/\/allowed\.test"/],
      [['--allow-localhost-port', '0'], /not a port/],
    ] as const) {
      const result = exec([...options], 'true');
      assert.is(result.status, 125, options.join(' '));
      assert.match(result.stderr, message);
      assert.is(result.stderr.trim().split('\n').length, 1);
    }
    tally('input', 4);
  });

  network.run();
}

const [root, user] = [mountingWays[0]!, mountingWays[1]!];
const together = suite('the network by host name, many at once and through a launcher');
const togetherTest = when(together, root.needs ?? user.needs);

togetherTest(`${MANY} jails at once, each with a host of its own, reach it and not the next one's`, async () => {
  const {hosts, bundle, app, programs, curl} = await setUp();
  const cache = root.cache();
  const runs = Array.from({length: MANY}, (_, index) => {
    const mine = `h${index}.many.test`;
    const next = `h${(index + 1) % MANY}.many.test`;
    const [command, argv] = withHosts(hosts, root.command(['exec', '--cache-dir', cache, '--also', programs, '--allow-host', mine, '--quiet', '--',
      `${app}/bin/sh`, '-c', `${curl} -sS --max-time 20 https://${mine}/; ${curl} -sS --max-time 20 https://${next}/ 2>&1; echo "next: $?"`]));
    return startCollecting(command, argv, {...root.env(), NIX_SSL_CERT_FILE: bundle});
  });
  for (const [index, exit] of (await Promise.all(runs)).entries()) {
    assert.is(exit.code, 0, `${index}: ${exit.stderr}`);
    assert.match(exit.stdout, /^hello from allowed\n/, String(index));
    assert.match(exit.stdout, /next: 56\n$/, String(index));
  }
  assert.not.ok(bridgeRuns());
  tally('concurrent', MANY);
});

togetherTest('a wrap launcher with --allow-host runs through exec, as root and as the test user, and reaches the allowed host', async () => {
  const {hosts, bundle, app, programs, curl} = await setUp();
  for (const caller of [root, user]) {
    const dir = tempDir('network-launcher', caller.user ? TEST_USER : undefined);
    const launcher = path.join(dir, 'jailed');
    const [wrapCommand, wrapArgv] = caller.command(['wrap', '--out', launcher, '--cache-dir', caller.cache(), '--also', programs, '--allow-host', 'allowed.test', '--',
      `${app}/bin/sh`, '-c', `${curl} -sS --max-time 20 https://allowed.test/; ${curl} -sS --max-time 20 https://denied.test/ 2>/dev/null; echo "denied: $?"`]);
    const wrapped = collect(wrapCommand, wrapArgv, caller.env());
    assert.is(wrapped.status, 0, wrapped.stderr);
    const [command, argv] = withHosts(hosts, launcherCommand(caller, launcher, []));
    const result = collect(command, argv, {...caller.env(), NIX_SSL_CERT_FILE: bundle});
    assert.is(result.status, 0, `${caller.name}: ${result.stderr}`);
    assert.is(result.stdout, 'hello from allowed\ndenied: 56\n', caller.name);
  }
});

for (const run of [together]) run.run();

