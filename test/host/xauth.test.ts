import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {displayCookies, FAMILY_LOCAL, FAMILY_WILD, localDisplay, parseXauthority, serializeXauthority, type XauthRecord} from '../../src/host/xauth.js';

const record = (family: number, address: string, display: string, data: string, name = 'MIT-MAGIC-COOKIE-1'): XauthRecord =>
  ({family, address: Buffer.from(address), display, name, data: Buffer.from(data, 'hex')});

// What `xauth -f F add :77 . 1dbb…` wrote on a host named vm (read with xxd).
const WRITTEN_BY_XAUTH = Buffer.from('01000002766d00023737001' + '24d49542d4d414749432d434f4f4b49452d310010' + '1dbbdf610dd352dc32e924d28b8f7f0c', 'hex');

const format = suite('Xauthority files');

format('should read a record as xauth writes it', () => {
  assert.equal(parseXauthority(WRITTEN_BY_XAUTH), [record(FAMILY_LOCAL, 'vm', '77', '1dbbdf610dd352dc32e924d28b8f7f0c')]);
});

format('should write records back byte for byte', () => {
  assert.equal(serializeXauthority(parseXauthority(WRITTEN_BY_XAUTH)), WRITTEN_BY_XAUTH);
  const two = [record(FAMILY_WILD, '', '1', 'aa'), record(FAMILY_LOCAL, 'h', '', 'bbcc', 'XDM-AUTHORIZATION-1')];
  assert.equal(parseXauthority(serializeXauthority(two)), two);
  const latin = [record(FAMILY_LOCAL, 'h\xe9', '\xe9', '', 'N\xe9')];
  assert.equal(serializeXauthority(latin).length, 2 + 2 + 3 + 2 + 1 + 2 + 2 + 2 + 0, 'one byte per character, and an empty cookie is a record');
  assert.equal(parseXauthority(serializeXauthority(latin)).map(one => [one.display, one.name, one.data.length]), [['\xe9', 'N\xe9', 0]]);
});

format('should drop a truncated last record and read nothing from garbage', () => {
  const two = serializeXauthority([record(FAMILY_LOCAL, 'vm', '0', 'aa'), record(FAMILY_LOCAL, 'vm', '1', 'bb')]);
  for (let cut = 1; cut < 17; cut++) assert.equal(parseXauthority(two.subarray(0, two.length - cut)).length, 1, `cut ${cut}`);
  assert.equal(parseXauthority(Buffer.alloc(0)), []);
  assert.equal(parseXauthority(Buffer.from([1])), []);
  assert.equal(parseXauthority(Buffer.from([1, 0, 0xff, 0xff, 0])), []);
});

format.run();

// ---

const cookies = suite('displayCookies');

const FILE = [
  record(FAMILY_LOCAL, 'vm', '0', '00'),
  record(FAMILY_LOCAL, 'vm', '1', '01'),
  record(FAMILY_LOCAL, 'other-host', '1', 'f1'),
  record(0, '\x7f\x00\x00\x01', '1', 'e1'),
  record(0, 'vm', '1', 'e2'),
  record(FAMILY_LOCAL, 'vm', '1', '02'),
  record(FAMILY_LOCAL, 'vm', '1', '03', 'XDM-AUTHORIZATION-1'),
  record(FAMILY_LOCAL, 'vm', '10', '10'),
];

cookies('should keep only the cookies of that display on this host, the first of each kind, for any address', () => {
  assert.equal(displayCookies(FILE, 1, 'vm'), [record(FAMILY_WILD, '', '1', '01'), record(FAMILY_WILD, '', '1', '03', 'XDM-AUTHORIZATION-1')]);
  assert.equal(displayCookies(FILE, 0, 'vm'), [record(FAMILY_WILD, '', '0', '00')]);
  assert.equal(displayCookies(FILE, 10, 'vm'), [record(FAMILY_WILD, '', '10', '10')]);
  assert.equal(displayCookies(FILE, 1, 'elsewhere'), []);
  assert.equal(displayCookies(FILE, 2, 'vm'), []);
  assert.equal(displayCookies([record(0, 'vm', '1', 'e2')], 1, 'vm'), [], 'an Internet address that happens to read as the host name is not this host');
});

cookies('should take records for any address, and for any display, as Xlib does', () => {
  const anyAddress = [record(FAMILY_WILD, 'x', '3', '33'), record(FAMILY_LOCAL, 'vm', '', '44', 'XDM-AUTHORIZATION-1')];
  assert.equal(displayCookies(anyAddress, 3, 'vm'), [record(FAMILY_WILD, '', '3', '33'), record(FAMILY_WILD, '', '3', '44', 'XDM-AUTHORIZATION-1')]);
});

cookies.run();

// ---

const displays = suite('localDisplay');

displays('should give the number of a local display, and nothing for any other', () => {
  assert.is(localDisplay(':0'), 0);
  assert.is(localDisplay(':12.1'), 12);
  assert.is(localDisplay(':2.10'), 2);
  assert.is(localDisplay('unix:3'), 3);
  for (const other of ['', ':', 'localhost:0', 'host:10.0', ':a', '/tmp/launch-x/org.xquartz:0', ':0 ', ' :0', ':1.']) assert.is(localDisplay(other), undefined, other);
});

displays.run();
