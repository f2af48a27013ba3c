/**
 * --allow-host and --allow-localhost-port, as pure functions: the rules, whether a request's
 * host and port pass them, where the proxy listens in the jail, and what the jail is told.
 *
 * A rule is a host name (`example.org`: that name only) or a wildcard (`*.example.org`: any
 * name below it, not the name itself), with a port (`:8443`) or without (80 and 443, plain
 * HTTP and TLS). Names compare without case and without a trailing dot.
 */
import {JailError} from '../errors.js';

export interface HostRule {
  /** The name, or the suffix a wildcard's names end in (without the `*.`), lower case. */
  name: string;
  wildcard: boolean;
  /** The port, or undefined for 80 and 443. */
  port: number | undefined;
}

export interface NetAllowance {
  hosts: HostRule[];
  /** Ports of the host's loopback the jail reaches at the same port of its own. */
  localPorts: number[];
}

export const DEFAULT_PORTS = [80, 443] as const;

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

export const parsePort = (text: string, option: string): number => {
  if (!/^\d{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65535) throw new JailError('usage', `${option}: ${JSON.stringify(text)} is not a port (1-65535)`);
  return Number(text);
};

/** One --allow-host value: `example.org`, `*.example.org`, either with `:PORT`. */
export const parseHostRule = (text: string): HostRule => {
  const option = `--allow-host ${JSON.stringify(text)}`;
  const match = /^(\*\.)?([^:]+)(?::([^:]*))?$/.exec(text);
  if (match === null) throw new JailError('usage', `${option}: give a host name, *.NAME for the names below it, either with :PORT`);
  const name = match[2]!.toLowerCase().replace(/\.$/, '');
  const labels = name.split('.');
  if (name.length > 253 || !labels.every(label => LABEL.test(label))) {
    throw new JailError('usage', `${option}: not a host name (letters, digits, - and dots; a * only as the first label)`);
  }
  return {name, wildcard: match[1] !== undefined, port: match[3] === undefined ? undefined : parsePort(match[3], option)};
};

export const parseAllowance = (hosts: readonly string[], ports: readonly string[]): NetAllowance | undefined => {
  if (hosts.length === 0 && ports.length === 0) return undefined;
  return {hosts: hosts.map(parseHostRule), localPorts: [...new Set(ports.map(port => parsePort(port, '--allow-localhost-port')))].sort((a, b) => a - b)};
};

/** Whether a request for `host`:`port` passes a rule. */
export const hostAllowed = (rules: readonly HostRule[], host: string, port: number): boolean => {
  const name = host.toLowerCase().replace(/\.$/, '');
  return rules.some(rule =>
    (rule.port === undefined ? (DEFAULT_PORTS as readonly number[]).includes(port) : rule.port === port)
    && (rule.wildcard ? name.endsWith(`.${rule.name}`) : name === rule.name));
};

/** The option that would allow a request, for the refusal: `--allow-host example.org:8080`. */
export const allowingOption = (host: string, port: number): string =>
  `--allow-host ${host.toLowerCase()}${(DEFAULT_PORTS as readonly number[]).includes(port) ? '' : `:${port}`}`;

/** Where the proxy listens in the jail: 3128, or the next port no --allow-localhost-port takes. */
export const proxyPort = (localPorts: readonly number[]): number => {
  let port = 3128;
  while (localPorts.includes(port)) port++;
  return port;
};

/** The variables that send the jail's HTTP clients to the proxy, both cases (curl reads http_proxy only in lower case). */
export const proxyEnvironment = (port: number): Array<[string, string]> => {
  const url = `http://127.0.0.1:${port}`;
  return ['HTTP_PROXY', 'HTTPS_PROXY', 'ALL_PROXY'].flatMap((name): Array<[string, string]> => [[name, url], [name.toLowerCase(), url]]);
};
