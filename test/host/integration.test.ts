import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {integrationPlan, NO_INTEGRATION, type HostProbe} from '../../src/host/integration.js';

const probe = (present: string[], env: Record<string, string> = {}, dev: string[] = []): HostProbe => ({
  exists: candidate => present.includes(candidate),
  isSocket: () => false,
  devNames: () => dev,
  env,
  readFile: () => undefined,
  hostname: 'host',
  uid: 1000,
  findProgram: () => undefined,
});

const DEBIAN = ['/etc/resolv.conf', '/etc/hosts', '/etc/nsswitch.conf', '/etc/services', '/etc/protocols', '/etc/ssl/certs/ca-certificates.crt', '/etc/localtime', '/etc/fonts', '/usr/share/fonts'];

const plan = suite('integrationPlan');

plan('should bring nothing without options', () => {
  assert.equal(integrationPlan(NO_INTEGRATION, probe(DEBIAN, {LANG: 'C'}, ['nvidia0'])), {resources: [], devices: [], keepEnv: [], setenv: [], links: [], shareNet: false, files: [], bus: undefined, missing: []});
});

plan('--net: the network, the name service files, the CA bundle at the usual paths and the variables naming it', () => {
  const net = integrationPlan({...NO_INTEGRATION, net: true}, probe(DEBIAN));
  assert.ok(net.shareNet);
  assert.equal(net.resources.map(resource => [resource.source, resource.dest, resource.readOnly, resource.by]), [
    ...['/etc/resolv.conf', '/etc/hosts', '/etc/nsswitch.conf', '/etc/services', '/etc/protocols'].map(file => [file, file, true, '--net']),
    ['/etc/ssl/certs/ca-certificates.crt', '/etc/ssl/certs/ca-certificates.crt', true, '--net'],
  ]);
  assert.equal(net.links, [
    {target: '/etc/ssl/certs/ca-certificates.crt', dest: '/etc/ssl/certs/ca-bundle.crt'},
    {target: '/etc/ssl/certs/ca-certificates.crt', dest: '/etc/pki/tls/certs/ca-bundle.crt'},
  ]);
  assert.equal(net.setenv, [['SSL_CERT_FILE', '/etc/ssl/certs/ca-certificates.crt'], ['NIX_SSL_CERT_FILE', '/etc/ssl/certs/ca-certificates.crt']]);
  assert.equal(net.missing, []);
});

plan('--net: the bundle the caller\'s environment names wins, NIX_SSL_CERT_FILE first; a named bundle that is missing is said', () => {
  const named = integrationPlan({...NO_INTEGRATION, net: true}, probe([...DEBIAN, '/home/u/ca.pem', '/home/u/other.pem'], {SSL_CERT_FILE: '/home/u/other.pem', NIX_SSL_CERT_FILE: '/home/u/ca.pem'}));
  assert.equal(named.resources.at(-1), {source: '/home/u/ca.pem', dest: '/etc/ssl/certs/ca-certificates.crt', readOnly: true, by: '--net', variable: 'NIX_SSL_CERT_FILE'});
  const second = integrationPlan({...NO_INTEGRATION, net: true}, probe([...DEBIAN, '/home/u/other.pem'], {SSL_CERT_FILE: '/home/u/other.pem'}));
  assert.is(second.resources.at(-1)!.variable, 'SSL_CERT_FILE', 'the variable that named it, for a refusal');
  assert.is(integrationPlan({...NO_INTEGRATION, net: true}, probe(DEBIAN)).resources.at(-1)!.variable, undefined, 'the system\'s bundle: no variable');
  const gone = integrationPlan({...NO_INTEGRATION, net: true}, probe(DEBIAN, {SSL_CERT_FILE: '/home/u/gone.pem'}));
  assert.equal(gone.missing, ['--net: this host has no /home/u/gone.pem']);
  assert.equal(gone.setenv, [], 'no variable names a bundle the jail does not have');
  const empty = integrationPlan({...NO_INTEGRATION, net: true}, probe(DEBIAN, {NIX_SSL_CERT_FILE: '', SSL_CERT_FILE: ''}));
  assert.is(empty.resources.at(-1)!.source, '/etc/ssl/certs/ca-certificates.crt', 'an empty variable names no bundle');
  const redHat = integrationPlan({...NO_INTEGRATION, net: true}, probe(['/etc/pki/tls/certs/ca-bundle.crt']));
  assert.is(redHat.resources.at(-1)!.source, '/etc/pki/tls/certs/ca-bundle.crt');
  assert.equal(redHat.missing, ['--net: this host has no /etc/resolv.conf, /etc/hosts, /etc/nsswitch.conf, /etc/services, /etc/protocols']);
  assert.equal(integrationPlan({...NO_INTEGRATION, net: true}, probe([])).missing.at(-1)!.endsWith(', CA bundle'), true);
});

plan('--gpu: /dev/dri and NVIDIA\'s nodes with device access, the drivers\' directories; what is missing is said', () => {
  const gpu = integrationPlan({...NO_INTEGRATION, gpu: true}, probe(['/dev/dri', '/run/opengl-driver'], {}, ['null', 'nvidiactl', 'nvidia0', 'nvidia-uvm', 'tty']));
  assert.equal(gpu.devices, ['/dev/dri', '/dev/nvidia-uvm', '/dev/nvidia0', '/dev/nvidiactl']);
  assert.equal(gpu.resources.map(resource => resource.source), ['/run/opengl-driver']);
  assert.equal(gpu.missing, []);
  assert.ok(gpu.resources.every(resource => resource.by === '--gpu' && resource.readOnly));
  const none = integrationPlan({...NO_INTEGRATION, gpu: true}, probe([], {}, ['nvidia0', 'not-nvidia1']));
  assert.equal(none.missing, ['--gpu: this host has no /dev/dri, /run/opengl-driver']);
  assert.equal(none.devices, ['/dev/nvidia0'], 'no /dev/dri when there is none; only names that start with nvidia');
});

plan('--locale: the locale and time zone variables that are set, LOCALE_ARCHIVE\'s and TZDIR\'s paths, /etc/localtime', () => {
  const env = {LANG: 'de_DE.UTF-8', LANGUAGE: 'de', LC_TIME: 'C', LC_ALL: 'C', TZ: 'Europe/Berlin', TZDIR: '/etc/zoneinfo', LOCALE_ARCHIVE: '/nix/store/x-glibc-locales/lib/locale/locale-archive', HOME: '/h'};
  const locale = integrationPlan({...NO_INTEGRATION, locale: true}, probe(['/etc/localtime', '/etc/zoneinfo', env.LOCALE_ARCHIVE], env));
  assert.equal(locale.keepEnv, ['LANG', 'LANGUAGE', 'TZ', 'TZDIR', 'LOCALE_ARCHIVE', 'LC_ALL', 'LC_TIME']);
  assert.equal(locale.resources.map(resource => [resource.source, resource.by, resource.variable]), [[env.LOCALE_ARCHIVE, '--locale', 'LOCALE_ARCHIVE'], ['/etc/zoneinfo', '--locale', 'TZDIR'], ['/etc/localtime', '--locale', undefined]]);
  // A relative path names nothing on the host, even where one happens to exist.
  const relative = integrationPlan({...NO_INTEGRATION, locale: true}, probe(['relative'], {TZDIR: 'relative'}));
  assert.equal(relative.missing, ['--locale: this host has no /etc/localtime']);
  assert.equal(relative.resources, []);
  assert.equal(relative.keepEnv, ['TZDIR'], 'only the variables that are set');
});

plan('--fonts: /etc/fonts and the font directories that exist', () => {
  const fonts = integrationPlan({...NO_INTEGRATION, fonts: true}, probe(DEBIAN));
  assert.equal(fonts.resources.map(resource => [resource.source, resource.by]), [['/etc/fonts', '--fonts'], ['/usr/share/fonts', '--fonts']]);
  assert.equal(integrationPlan({...NO_INTEGRATION, fonts: true}, probe([])).missing, ['--fonts: this host has no /etc/fonts']);
});

plan.run();
