import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {execFlags} from '../src/cli/exec.js';
import {wrapCli} from '../src/cli/wrap.js';
import {profileOptions} from '../src/profile.js';
import {throwsJail} from './helpers/errors.js';

const profile = suite('profileOptions');

profile('should turn each key into the option words the command line would give, paths from the profile\'s directory', () => {
  assert.equal(profileOptions({
    'net': true, 'fonts': false, 'ro-bind': ['data:/data', '/abs'], 'bind': 'rw', 'home': 'state', 'setenv': ['A=b c'], 'mode': 'whiteout', 'chdir': 'rel',
  }, '/home/u/profiles/browser.json', execFlags), [
    '--net', '--no-fonts', '--ro-bind=/home/u/profiles/data:/data', '--ro-bind=/abs:/abs', '--bind=/home/u/profiles/rw:/rw',
    '--home=/home/u/profiles/state', '--setenv=A=b c', '--mode=whiteout', '--chdir=rel',
  ]);
  assert.equal(profileOptions({}, 'p.json', execFlags), []);
  // A job's limits, as a CI preset would hold them: values, not paths.
  assert.equal(profileOptions({'timeout': '10m', 'kill-after': '2s', 'limit': ['nofile=256', 'core=0'], 'pids': '200'}, '/p/ci.json', execFlags),
    ['--timeout=10m', '--kill-after=2s', '--limit=nofile=256', '--limit=core=0', '--pids=200']);
});

profile('should refuse, in one line naming the file, what is not an object, an unknown key and a wrong type', () => {
  for (const [value, message] of [
    [[], 'not a JSON object of options'],
    [null, 'not a JSON object of options'],
    ['net', 'not a JSON object of options'],
    [{netw: true}, 'unknown option "netw"'],
    [{'--net': true}, 'unknown option "--net"'],
    [{shareNet: true}, 'unknown option "shareNet"'],
    [{profile: 'other.json'}, 'unknown option "profile"'],
    [{'dry-run': true}, 'unknown option "dry-run"'],
    [{'parse-only': true}, 'unknown option "parse-only"'],
    [{constructor: '/x'}, 'unknown option "constructor"'],
    [{'to-string': true}, 'unknown option "to-string"'],
    [{'has-own-property': 'x'}, 'unknown option "has-own-property"'],
    [{'launch-plan': '/x'}, 'unknown option "launch-plan"'],
    [{'launch-words': '1'}, 'unknown option "launch-words"'],
    [{net: 'yes'}, '"net" must be true or false'],
    [{home: ['a', 'b']}, '"home" must be a string$'],
    [{'ro-bind': ['/a', 2]}, '"ro-bind" must be a string or an array of strings'],
    [{'ro-bind': [1]}, '"ro-bind" must be a string or an array of strings'],
    [{'ro-bind': {a: 1}}, '"ro-bind" must be a string or an array of strings'],
    [{mode: 'open'}, '"mode" must be one of auto, whiteout, allowlist'],
    [{'closure-file': '-'}, 'reads standard input'],
    [{'ro-bind': '/x:/nix/store'}, 'refusing bind onto /nix/store'],
  ] as const) {
    throwsJail(() => profileOptions(value, '/p/x.json', execFlags), 'usage', new RegExp(`^profile /p/x\\.json: .*${message.replace(/[.*+?^{}()|[\]\\]/g, '\\$&')}`));
  }
  // A launcher's own options are not the jail's: wrap refuses them in a profile.
  for (const key of ['out', 'force']) {
    throwsJail(() => profileOptions({[key]: key === 'force' ? true : '/x'}, '/p/x.json', wrapCli.flags), 'usage', `unknown option "${key}"`);
  }
});

profile.run();
