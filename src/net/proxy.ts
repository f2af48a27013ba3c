/**
 * The jail's way out for --allow-host and --allow-localhost-port: a filtering HTTP proxy run
 * by nix-overlay-jail itself, outside the jail, for the jail's lifetime.
 *
 * The jail has a network namespace of its own, with only its loopback. A bridge (bridge.ts),
 * started in that namespace from outside (nsenter), listens on the jail's 127.0.0.1 at the
 * proxy's port and at each allowed localhost port, and carries every connection, byte for
 * byte, to a Unix socket of this process in a directory only the caller can enter: `proxy`
 * for the proxy, `local-PORT` for the host's loopback port. Unix sockets are reached by path,
 * which the network namespace does not change. So the jail has no route, no resolver and no
 * address of the host's: names are resolved here, outside, by the host's resolver.
 *
 * The proxy takes CONNECT (TLS and anything tunnelled) and plain requests by their absolute
 * URL (or, failing that, their Host); a host and port no rule allows gets a 403 that names the
 * option that would allow it, and one line here.
 */
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import type {Duplex} from 'node:stream';
import {allowingOption, hostAllowed, type NetAllowance} from './allow.js';

export interface NetProxy {
  /** Stop listening and end every connection. */
  stop: () => Promise<void>;
}

export const PROXY_SOCKET = 'proxy';
export const localSocket = (port: number): string => `local-${port}`;

/** Headers that belong to one hop (RFC 9110 7.6.1), not passed on. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

/** Two streams joined both ways; either ending or failing ends both. */
export const join = (a: Duplex, b: Duplex): void => {
  const end = (): void => {
    a.destroy();
    b.destroy();
  };
  a.on('error', end).on('close', end);
  b.on('error', end).on('close', end);
  a.pipe(b);
  b.pipe(a);
};

/** `host:port` of a CONNECT, or of a URL's authority: [host, port], or undefined. */
export const splitAuthority = (authority: string, defaultPort: number): [string, number] | undefined => {
  const match = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(authority);
  if (match === null) return undefined;
  const port = match[2] === undefined ? defaultPort : Number(match[2]);
  return port >= 1 && port <= 65535 ? [match[1]!, port] : undefined;
};

const refusal = (host: string, port: number): string =>
  `nix-overlay-jail: ${host}:${port} is not allowed in this jail (${allowingOption(host, port)} would allow it)\n`;

export const startNetProxy = async (allowance: NetAllowance, dir: string, warn: ((line: string) => void) | undefined): Promise<NetProxy> => {
  const sockets = new Set<Duplex>();
  const track = (socket: Duplex): void => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  };
  const refused = (method: string, host: string, port: number): void => warn?.(`refused ${method} ${host}:${port} from the jail (${allowingOption(host, port)} would allow it)`);

  const proxy = http.createServer((request, response) => {
    let target: URL | undefined;
    try {
      target = new URL(request.url!.startsWith('/') ? `http://${request.headers.host ?? ''}${request.url}` : request.url!);
    } catch {
      target = undefined;
    }
    if (target === undefined || target.protocol !== 'http:' || target.hostname === '') {
      response.writeHead(400, {'content-type': 'text/plain'}).end('nix-overlay-jail: the proxy takes http:// URLs and CONNECT\n');
      return;
    }
    const host = target.hostname.replace(/^\[(.*)\]$/, '$1');
    const port = target.port === '' ? 80 : Number(target.port);
    if (!hostAllowed(allowance.hosts, host, port)) {
      refused(request.method ?? 'GET', host, port);
      response.writeHead(403, {'content-type': 'text/plain', connection: 'close'}).end(refusal(host, port));
      return;
    }
    const headers = Object.fromEntries(Object.entries(request.headers).filter(([name]) => !HOP_BY_HOP.has(name)));
    const upstream = http.request({host, port, method: request.method, path: `${target.pathname}${target.search}`, headers}, answer => {
      const passed = Object.fromEntries(Object.entries(answer.headers).filter(([name]) => !HOP_BY_HOP.has(name)));
      response.writeHead(answer.statusCode ?? 502, passed);
      answer.pipe(response);
    });
    upstream.on('error', error => {
      if (!response.headersSent) response.writeHead(502, {'content-type': 'text/plain'});
      response.end(`nix-overlay-jail: ${host}:${port}: ${error.message}\n`);
    });
    request.pipe(upstream);
  });
  proxy.on('connect', (request: http.IncomingMessage, client: Duplex, head: Buffer) => {
    track(client);
    const authority = splitAuthority(request.url ?? '', 443);
    if (authority === undefined) {
      client.end('HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nnix-overlay-jail: CONNECT takes host:port\n');
      return;
    }
    const [bracketed, port] = authority;
    const host = bracketed.replace(/^\[(.*)\]$/, '$1');
    if (!hostAllowed(allowance.hosts, host, port)) {
      refused('CONNECT', host, port);
      const body = refusal(host, port);
      client.end(`HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
      return;
    }
    const upstream = net.connect({host, port});
    track(upstream);
    let tunnelled = false;
    upstream.once('connect', () => {
      tunnelled = true;
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      join(client, upstream);
    });
    // Only before the tunnel: after it, join ends both sides and nothing more is written.
    upstream.once('error', error => {
      if (!tunnelled) client.end(`HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nnix-overlay-jail: ${host}:${port}: ${error.message}\n`);
    });
  });
  proxy.on('connection', track);
  proxy.on('clientError', (_error, socket) => socket.destroy());

  // The host's loopback ports, each behind a socket of its own.
  const locals = allowance.localPorts.map(port => net.createServer(client => {
    track(client);
    const upstream = net.connect({host: '127.0.0.1', port});
    track(upstream);
    join(client, upstream);
  }));
  const servers: net.Server[] = [proxy, ...locals];
  const paths = [PROXY_SOCKET, ...allowance.localPorts.map(localSocket)].map(name => path.join(dir, name));
  await Promise.all(servers.map((server, index) => new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(paths[index], () => resolve());
  })));
  return {
    stop: async () => {
      for (const socket of sockets) socket.destroy();
      await Promise.all(servers.map(server => new Promise<void>(resolve => server.close(() => resolve()))));
    },
  };
};
