import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {frontCacheDir, frontKeyText, frontScript} from '../../src/launch/front.js';
import {defaultCacheDir} from '../../src/mask/cache.js';

const cacheDir = suite('the front\'s cache directory');

cacheDir('should be exec\'s default where the environment alone names it as a plain path', () => {
  const cases: Array<[NodeJS.ProcessEnv, number]> = [
    [{HOME: '/home/a'}, 1000],
    [{HOME: '/home/a', XDG_CACHE_HOME: '/cache'}, 1000],
    [{HOME: '/home/a', XDG_CACHE_HOME: 'relative'}, 1000],
    [{HOME: '/home/a', XDG_CACHE_HOME: ''}, 1000],
    [{HOME: 'relative'}, 0],
    [{}, 0],
  ];
  for (const [env, uid] of cases) assert.is(frontCacheDir(env, uid), defaultCacheDir(env, uid), JSON.stringify(env));
  assert.is(frontCacheDir({HOME: '/home/a', XDG_CACHE_HOME: '/x'}, 0), '/var/cache/nix-overlay-jail', 'root\'s, whatever the variables');
  assert.is(frontCacheDir({HOME: '/home/a', XDG_CACHE_HOME: '/x'}, 1), '/x/nix-overlay-jail');
});

cacheDir('should be none where exec would need more than the environment, or a path that is not plain', () => {
  for (const env of [{}, {HOME: 'relative'}, {HOME: ''}, {HOME: '/'}, {HOME: '/home/a/'}, {HOME: '/home/./a'}, {HOME: '/home/../a'}, {HOME: '/home/a/.'}, {HOME: '/home/a/..'}, {HOME: '/home//a'}, {HOME: '/home/a\nb'}, {XDG_CACHE_HOME: '/c/', HOME: '/h'}]) {
    assert.is(frontCacheDir(env, 1000), undefined, JSON.stringify(env));
  }
  assert.is(frontCacheDir({HOME: '/home/a.b/..c'}, 1000), '/home/a.b/..c/.cache/nix-overlay-jail', 'dots within a name are plain');
});

const keyText = suite('the front\'s key text');

keyText('should be the directory, a header, then each word on a line', () => {
  assert.is(frontKeyText('/w', ['exec', '--', 'a b', '']), '/w\nnix-overlay-jail front 1\nexec\n--\na b\n\n');
  assert.is.not(frontKeyText('/w', ['exec', 'a']), frontKeyText('/w', ['exec', 'a', '']), 'an empty word counts');
  assert.is.not(frontKeyText('/w', ['exec']), frontKeyText('/v', ['exec']));
});

keyText('should be none for a newline or NUL anywhere, which would make two invocations one', () => {
  assert.is(frontKeyText('/w', ['exec', 'a\nb']), undefined);
  assert.is(frontKeyText('/w\nx', ['exec']), undefined);
  assert.is(frontKeyText('/w', ['exec', 'a\0b']), undefined);
});

keyText('should give a front only words a shell reads back as they are', () => {
  assert.throws(() => frontScript({node: 'node', cli: 'a\nb'}), /newline/);
  assert.match(frontScript({node: "/opt/it's/node", cli: ''}), /^noj_node='\/opt\/it'\\''s\/node'$/m);
});

for (const run of [cacheDir, keyText]) run.run();
