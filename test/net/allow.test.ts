import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {allowingOption, hostAllowed, parseAllowance, parseHostRule, parsePort, proxyEnvironment, proxyPort} from '../../src/net/allow.js';
import {splitAuthority} from '../../src/net/proxy.js';
import {throwsJail} from '../helpers/errors.js';

const rules = suite('--allow-host rules');

rules('should read a name, a wildcard and a port, without case or a trailing dot', () => {
  assert.equal(parseHostRule('Example.ORG'), {name: 'example.org', wildcard: false, port: undefined});
  assert.equal(parseHostRule('*.example.org:8443'), {name: 'example.org', wildcard: true, port: 8443});
  assert.equal(parseHostRule('example.org.'), {name: 'example.org', wildcard: false, port: undefined});
  assert.equal(parseHostRule('a-b.c1'), {name: 'a-b.c1', wildcard: false, port: undefined});
});

rules('should refuse what is not a host name or a port, in one line', () => {
  for (const bad of ['', '*', '*.', 'exa mple.org', '-a.org', 'a-.org', 'a..org', 'ex*.org', '*.*.org', 'http://example.org', 'example.org:', 'example.org:0', 'example.org:65536', 'example.org:80:80', '[::1]', '1.2.3.4:x', `${'a'.repeat(64)}.org`]) {
    throwsJail(() => parseHostRule(bad), 'usage', /--allow-host/);
  }
  throwsJail(() => parsePort('0', '--allow-localhost-port'), 'usage', /not a port/);
  throwsJail(() => parsePort('65536', '--allow-localhost-port'), 'usage', /not a port/);
  throwsJail(() => parsePort('80a', '--allow-localhost-port'), 'usage', /not a port/);
  assert.is(parsePort('65535', 'x'), 65535);
  assert.is(parsePort('1', 'x'), 1);
});

rules('should allow a name on 80 and 443, a port only on it, and a wildcard below its name but not itself', () => {
  const allowance = parseAllowance(['example.org', '*.example.net', 'api.example.com:8443'], [])!;
  const allowed = (host: string, port: number): boolean => hostAllowed(allowance.hosts, host, port);
  assert.ok(allowed('example.org', 443));
  assert.ok(allowed('EXAMPLE.org.', 80));
  assert.not.ok(allowed('example.org', 8080));
  assert.not.ok(allowed('www.example.org', 443), 'a name allows only itself');
  assert.not.ok(allowed('notexample.org', 443));
  assert.ok(allowed('a.example.net', 443));
  assert.ok(allowed('a.b.example.net', 80));
  assert.not.ok(allowed('example.net', 443), 'a wildcard does not allow its parent');
  assert.not.ok(allowed('aexample.net', 443));
  assert.ok(allowed('api.example.com', 8443));
  assert.not.ok(allowed('api.example.com', 443), 'a port given is the only one');
  assert.not.ok(hostAllowed([], 'example.org', 443));
});

rules('should take ports once, in order, and leave none given as no allowance', () => {
  assert.is(parseAllowance([], []), undefined);
  assert.equal(parseAllowance([], ['5432', '80', '5432'])!.localPorts, [80, 5432]);
});

const proxy = suite('the proxy');

proxy('should listen at 3128, or the next port no localhost port takes', () => {
  assert.is(proxyPort([]), 3128);
  assert.is(proxyPort([3128, 3129, 8080]), 3130);
  assert.is(proxyPort([3129]), 3128);
});

proxy('should point both cases of HTTP_PROXY, HTTPS_PROXY and ALL_PROXY at it', () => {
  const env = Object.fromEntries(proxyEnvironment(3130));
  assert.equal(Object.keys(env).sort(), ['ALL_PROXY', 'HTTPS_PROXY', 'HTTP_PROXY', 'all_proxy', 'http_proxy', 'https_proxy']);
  assert.ok(Object.values(env).every(url => url === 'http://127.0.0.1:3130'));
});

proxy('should name the option that would allow a refused request', () => {
  assert.is(allowingOption('Denied.test', 443), '--allow-host denied.test');
  assert.is(allowingOption('denied.test', 80), '--allow-host denied.test');
  assert.is(allowingOption('denied.test', 8443), '--allow-host denied.test:8443');
});

proxy('should split a CONNECT authority, with IPv6 in brackets and a default port', () => {
  assert.equal(splitAuthority('example.org:443', 443), ['example.org', 443]);
  assert.equal(splitAuthority('example.org', 443), ['example.org', 443]);
  assert.equal(splitAuthority('[::1]:8443', 443), ['[::1]', 8443]);
  for (const bad of ['', 'example.org:', 'example.org:0', 'example.org:99999', 'a:b:c', '::1']) assert.is(splitAuthority(bad, 443), undefined, bad);
});

for (const run of [rules, proxy]) run.run();
