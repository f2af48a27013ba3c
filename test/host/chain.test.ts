import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {followChain, MAX_LINKS} from '../../src/host/chain.js';
import {throwsJail} from '../helpers/errors.js';
import {CACERT, ETC, nixosHost, TZDATA} from './nixos.js';

const chain = suite('followChain');

chain('should follow /etc/localtime through /etc/zoneinfo and /etc/static into tzdata, recording each link', () => {
  const {links, end} = followChain('/etc/localtime', nixosHost().readlink);
  assert.equal(links, [
    {path: '/etc/localtime', target: '/etc/zoneinfo/Europe/Berlin'},
    {path: '/etc/zoneinfo', target: '/etc/static/zoneinfo'},
    {path: '/etc/static', target: `/nix/store/${ETC}/etc`},
    {path: `/nix/store/${ETC}/etc/zoneinfo`, target: `/nix/store/${TZDATA}/share/zoneinfo`},
  ]);
  assert.is(end, `/nix/store/${TZDATA}/share/zoneinfo/Europe/Berlin`);
});

chain('should resolve a link in the middle of a path and go on with the rest', () => {
  const {links, end} = followChain('/etc/ssl/certs/ca-certificates.crt', nixosHost().readlink);
  assert.equal(links.map(link => link.path), ['/etc/ssl/certs/ca-certificates.crt', '/etc/static', `/nix/store/${ETC}/etc/ssl/certs/ca-certificates.crt`]);
  assert.is(end, `/nix/store/${CACERT}/etc/ssl/certs/ca-bundle.crt`);
});

chain('should take a relative target from the link\'s directory, and .. from where a link led', () => {
  assert.is(followChain('/srv/data/current/x', nixosHost().readlink).end, '/srv/releases/2/x');
  // `..` after a link goes up from its target, not from the link (as the kernel resolves).
  const host = nixosHost({'/a/b': '/x/y/z'}, {});
  assert.is(followChain('/a/b/../c', host.readlink).end, '/x/y/c');
  assert.is(followChain('/a/./b/', host.readlink).end, '/x/y/z');
  assert.is(followChain('/../a/b', host.readlink).end, '/x/y/z');
});

chain('should leave a path with no links as it is, having asked about each component once', () => {
  const host = nixosHost();
  assert.equal(followChain('/usr/share/zoneinfo/UTC', host.readlink), {links: [], end: '/usr/share/zoneinfo/UTC'});
  assert.equal(host.reads, ['/usr', '/usr/share', '/usr/share/zoneinfo', '/usr/share/zoneinfo/UTC']);
});

chain('should refuse a loop after the kernel\'s number of links, and a relative start', () => {
  throwsJail(() => followChain('/loop/a', nixosHost().readlink), 'usage', /\/loop\/a: too many levels of symbolic links/);
  const long: Record<string, string> = {};
  for (let index = 0; index < MAX_LINKS; index++) long[`/l${index}`] = `/l${index + 1}`;
  assert.is(followChain('/l0', nixosHost(long, {}).readlink).links.length, MAX_LINKS);
  long[`/l${MAX_LINKS}`] = '/end';
  throwsJail(() => followChain('/l0', nixosHost(long, {}).readlink), 'usage', /too many levels/);
  throwsJail(() => followChain('etc/localtime', nixosHost().readlink), 'usage', /not an absolute path/);
});

chain.run();
