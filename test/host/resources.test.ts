import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {addedEntries, describeAdded, planHostResources, type HostResource} from '../../src/host/resources.js';
import {CACERT, DRIVERS, ETC, FONTS, NIXOS_DIRS, NIXOS_LINKS, nixosHost, TZDATA} from './nixos.js';

const resource = (source: string, by = '--locale', dest = source): HostResource => ({source, dest, readOnly: true, by});

const plan = suite('planHostResources');

plan('should make a chain into the store again in the jail: its host links, the entries it passes through, the closure of its end', () => {
  const result = planHostResources([resource('/etc/localtime')], nixosHost(), '/nix/store', []);
  assert.equal(result.binds, [], 'nothing is bound: the links resolve in the jail as on the host');
  assert.equal(result.links, [
    {target: '/etc/zoneinfo/Europe/Berlin', dest: '/etc/localtime'},
    {target: '/etc/static/zoneinfo', dest: '/etc/zoneinfo'},
    {target: `/nix/store/${ETC}/etc`, dest: '/etc/static'},
  ]);
  assert.equal(addedEntries(result), {withClosure: [TZDATA], alone: [ETC]});
  assert.is(describeAdded(TZDATA, result.added.get(TZDATA)!), `/nix/store/${TZDATA}, with its closure, for --locale (through /etc/localtime)`);
  assert.is(describeAdded(ETC, result.added.get(ETC)!), `/nix/store/${ETC}, alone, for --locale (through /etc/localtime)`);
});

plan('should share links and entries between resources, once each, naming the first that brought them', () => {
  const result = planHostResources([resource('/etc/localtime'), resource('/etc/fonts', '--fonts'), resource('/run/opengl-driver', '--gpu')], nixosHost(), '/nix/store', []);
  assert.equal(result.links.map(link => link.dest), ['/etc/localtime', '/etc/zoneinfo', '/etc/static', '/etc/fonts', '/run/opengl-driver']);
  assert.equal(addedEntries(result), {withClosure: [FONTS, DRIVERS, TZDATA].sort(), alone: [ETC]});
  assert.is(result.added.get(ETC)!.by, '--locale');
  assert.is(result.added.get(FONTS)!.via, '/etc/fonts');
});

plan('should bind a host directory, and follow the links inside it out through /etc/static into the store', () => {
  const result = planHostResources([resource('/etc/ssl', '--ro-bind')], nixosHost(), '/nix/store', []);
  assert.equal(result.binds, [resource('/etc/ssl', '--ro-bind')]);
  // The link inside the bound directory comes with the bind; /etc/static is made.
  assert.equal(result.links, [{target: `/nix/store/${ETC}/etc`, dest: '/etc/static'}]);
  assert.equal(addedEntries(result), {withClosure: [CACERT], alone: [ETC]});
  assert.is(result.added.get(CACERT)!.via, '/etc/ssl/certs/ca-certificates.crt');
});

plan('should not walk a directory bound read-write (working data, not configuration)', () => {
  const result = planHostResources([{...resource('/etc/ssl', '--bind'), readOnly: false}], nixosHost(), '/nix/store', []);
  assert.equal(result.binds.map(bind => bind.dest), ['/etc/ssl']);
  assert.equal(result.links, []);
  assert.is(result.added.size, 0);
});

plan('should bind a path with no link into the store as given, adding nothing', () => {
  const host = nixosHost();
  const result = planHostResources([resource('/etc/resolv.conf', '--net'), resource('/srv/data/current', '--bind', '/data')], {...host, linksInside: () => []}, '/nix/store', []);
  assert.equal(result.binds.map(bind => bind.dest), ['/etc/resolv.conf', '/data']);
  assert.equal(result.links, []);
  assert.is(result.added.size, 0);
});

plan('should bind, not link, a chain into the store that goes to another place in the jail, adding the closure of its end', () => {
  // NIX_SSL_CERT_FILE naming the bundle by its /etc path, bound at the jail's usual path.
  const result = planHostResources([resource('/srv/releases/2/cert.pem', '--net', '/etc/ssl/certs/ca-certificates.crt')], nixosHost(), '/nix/store', []);
  assert.equal(result.binds.map(bind => bind.source), ['/srv/releases/2/cert.pem']);
  assert.equal(result.links, []);
  assert.equal(addedEntries(result), {withClosure: [CACERT], alone: []});
});

plan('should add a path inside the store (LOCALE_ARCHIVE) by its entry and closure, with no bind and no link', () => {
  const archive = `/nix/store/${TZDATA}/lib/locale/locale-archive`;
  const result = planHostResources([resource(archive)], nixosHost(), '/nix/store', []);
  assert.equal(result.binds, []);
  assert.equal(result.links, []);
  assert.equal(addedEntries(result), {withClosure: [TZDATA], alone: []});
});

plan('should bind instead of linking when the host\'s store is not at /nix/store (the jail\'s links would point elsewhere)', () => {
  const links = {'/etc/localtime': '/srv/store/abc-tzdata/share/zoneinfo/UTC'};
  const result = planHostResources([resource('/etc/localtime')], nixosHost(links, {}), '/srv/store', []);
  assert.equal(result.binds.map(bind => bind.source), ['/etc/localtime']);
  assert.equal(result.links, []);
  assert.equal(addedEntries(result), {withClosure: ['abc-tzdata'], alone: []});
});

plan('should keep the first resource for a destination, and make no link at, above or below another mount', () => {
  const result = planHostResources(
    [resource('/etc/localtime', '--ro-bind', '/etc/localtime'), resource('/etc/localtime'), resource('/srv/static-data', '--bind', '/etc/static/data')],
    nixosHost({...NIXOS_LINKS, '/etc/localtime': '/etc/zoneinfo/UTC'}, {}), '/nix/store', ['/etc/passwd', '/etc/zoneinfo/UTC/x'],
  );
  // /etc/localtime: a chain into the store, made again; /etc/zoneinfo lies above a taken path
  // and /etc/static above a bind: neither is made.
  assert.equal(result.links, [{target: '/etc/zoneinfo/UTC', dest: '/etc/localtime'}]);
  assert.equal(result.binds.map(bind => bind.dest), ['/etc/static/data']);
  assert.is(result.added.get(TZDATA)!.by, '--ro-bind', 'the first resource for /etc/localtime');
});

plan('should skip a later resource for a destination already taken, whatever its chain would bring', () => {
  const result = planHostResources([resource('/srv/my-localtime', '--ro-bind', '/etc/localtime'), resource('/etc/localtime')], nixosHost(), '/nix/store', []);
  assert.equal(result.binds.map(bind => [bind.source, bind.dest]), [['/srv/my-localtime', '/etc/localtime']]);
  assert.equal(result.links, []);
  assert.is(result.added.size, 0, 'the skipped resource\'s chain adds nothing');
});

plan('should make no link exactly where the jail has something else (a file it writes, a bind)', () => {
  const result = planHostResources([resource('/etc/localtime')], nixosHost(), '/nix/store', ['/etc/localtime', '/etc/static']);
  assert.equal(result.links, [{target: '/etc/static/zoneinfo', dest: '/etc/zoneinfo'}]);
});

plan('should make the links a directory bound elsewhere leads to, but none inside the directory itself', () => {
  // /srv/releases/2 at /data: its cert.pem links to /etc/ssl/…, which leads on through /etc/static.
  const result = planHostResources([resource('/srv/releases/2', '--ro-bind', '/data')], nixosHost(), '/nix/store', []);
  assert.equal(result.links.map(link => link.dest), ['/etc/ssl/certs/ca-certificates.crt', '/etc/static']);
  assert.equal(addedEntries(result), {withClosure: [CACERT], alone: [ETC]});
});

plan('should add nothing for links inside a bound directory that end on the host, outside the store', () => {
  const links = {'/etc/fonts/conf.d/10-a.conf': '../../../usr/share/fontconfig/conf.avail/10-a.conf'};
  const result = planHostResources([resource('/etc/fonts', '--fonts')], nixosHost(links, {'/etc/fonts': ['/etc/fonts/conf.d/10-a.conf']}), '/nix/store', []);
  assert.equal(result.binds.map(bind => bind.source), ['/etc/fonts']);
  assert.equal(result.links, []);
  assert.is(result.added.size, 0);
});

plan('should give an entry its closure when a later chain ends in it, after an earlier one only passed through it', () => {
  const links = {'/a': `/nix/store/${ETC}/a`, [`/nix/store/${ETC}/a`]: `/nix/store/${TZDATA}/a`, '/b': `/nix/store/${ETC}/b`, '/c': `/nix/store/${CACERT}/c`};
  const result = planHostResources([resource('/a'), resource('/b'), resource('/c')], nixosHost(links, {}), '/nix/store', []);
  assert.equal(addedEntries(result), {withClosure: [CACERT, ETC, TZDATA].sort(), alone: []});
  assert.is(result.added.get(ETC)!.via, '/a', 'still named after what met it first');
  // Alone entries come sorted too.
  const alone = planHostResources([resource('/x')], nixosHost({'/x': `/nix/store/${TZDATA}/x`, [`/nix/store/${TZDATA}/x`]: `/nix/store/${ETC}/x`, [`/nix/store/${ETC}/x`]: `/nix/store/${CACERT}/x`}, {}), '/nix/store', []);
  assert.equal(addedEntries(alone), {withClosure: [CACERT], alone: [ETC, TZDATA].sort()});
});

plan('should never make a link in the jail\'s store, /proc or /dev', () => {
  const links = {'/dev/log': `/nix/store/${ETC}/log`, '/proc/x': `/nix/store/${ETC}/x`};
  const result = planHostResources([resource('/dev/log'), resource('/proc/x')], nixosHost(links, {}), '/nix/store', []);
  assert.equal(result.links, []);
  assert.equal(addedEntries(result), {withClosure: [ETC], alone: []});
});

plan('should skip a link inside a bound directory that resolves nowhere (a loop), and still follow the others', () => {
  const dirs = {...NIXOS_DIRS, '/etc/ssl': ['/loop/a', '/etc/ssl/certs/ca-certificates.crt']};
  const result = planHostResources([resource('/etc/ssl', '--ro-bind')], nixosHost(NIXOS_LINKS, dirs), '/nix/store', []);
  assert.equal(result.binds.map(bind => bind.source), ['/etc/ssl']);
  assert.equal(addedEntries(result), {withClosure: [CACERT], alone: [ETC]});
});

plan('should refuse what a variable names when it would bind onto the store, the store itself or above, a dot entry, or Nix\'s state', () => {
  const refused = (given: HostResource, message: RegExp, host = nixosHost()): void => {
    try {
      planHostResources([given], host, '/nix/store', []);
      assert.unreachable(`${given.source} should be refused`);
    } catch (error) {
      assert.is((error as {exitCode?: number}).exitCode, 125);
      assert.match((error as Error).message, message);
    }
  };
  const fromVariable = (source: string, variable: string, by = '--locale', dest = source): HostResource => ({...resource(source, by, dest), variable});
  refused(fromVariable('/nix', 'TZDIR'), /^--locale: TZDIR names \/nix, which would be bound onto \/nix, covering the jail's \/nix\/store: refused$/);
  refused(fromVariable('/nix/store', 'PULSE_SERVER', '--audio'), /PULSE_SERVER names \/nix\/store, which would be bound onto \/nix\/store/);
  refused(fromVariable('/', 'TZDIR'), /would be bound onto \//);
  // Bound elsewhere, the source still shows what the mask hides.
  refused(fromVariable('/nix', 'SSL_CERT_FILE', '--net', '/etc/ssl/certs/ca-certificates.crt'), /SSL_CERT_FILE names \/nix, which leads to \/nix: binding it would show the jail the whole store: refused/);
  refused(fromVariable('/nix/var/nix/daemon-socket', 'WAYLAND_DISPLAY', '--wayland', '/run/user/1/wayland-0'), /Nix's database and daemon/);
  refused(fromVariable('/nix/store/.links', 'TZDIR', '--locale', '/usr/share/zoneinfo'), /the store's \.links/);
  refused(fromVariable('/nix/store/.links/0abc', 'LOCALE_ARCHIVE'), /the store's \.links/);
  // Through a link: where it leads decides.
  const linked = {...nixosHost(), readlink: (candidate: string) => (candidate === '/home/u/tz' ? '/nix' : nixosHost().readlink(candidate))};
  refused(fromVariable('/home/u/tz', 'TZDIR'), /leads to \/nix: binding it would show the jail the whole store/, linked);
  // An option's own path is held to the same rule; the user's own --ro-bind is bound as asked.
  refused(resource('/nix/var/nix', '--gpu'), /^--gpu \/nix\/var\/nix leads to \/nix\/var\/nix/);
  assert.equal(planHostResources([{...resource('/nix', '--ro-bind', '/mnt'), asked: true}], nixosHost(), '/nix/store', []).binds.map(bind => bind.dest), ['/mnt']);
  // A path inside an entry is that entry, not the store: it joins with its closure (LOCALE_ARCHIVE on NixOS).
  assert.equal(addedEntries(planHostResources([fromVariable(`/nix/store/${TZDATA}/share/zoneinfo`, 'TZDIR')], nixosHost(), '/nix/store', [])).withClosure, [TZDATA]);
});

plan.run();
