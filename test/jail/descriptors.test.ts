import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {controlDescriptors, isCloseOnExec, isRuntimeDescriptor, parseKeepFd} from '../../src/jail/descriptors.js';
import {stdioTable} from '../../src/jail/run.js';
import {throwsJail} from '../helpers/errors.js';

const flags = suite('fdinfo flags');

flags('should read close-on-exec from the octal flags line', () => {
  assert.ok(isCloseOnExec('pos:\t0\nflags:\t02100000\nmnt_id:\t25\n'));
  assert.not.ok(isCloseOnExec('pos:\t0\nflags:\t0100000\nmnt_id:\t25\n'));
  assert.not.ok(isCloseOnExec('pos:\t0\nflags:\t02\n'), 'O_RDWR alone');
  assert.not.ok(isCloseOnExec('pos:\t0\n'), 'no flags line');
});

flags('should take epoll, eventfd and libuv pipes for the runtime, and an inherited pipe for the caller', () => {
  assert.ok(isRuntimeDescriptor('anon_inode:[eventpoll]', 'flags:\t02000002\n'));
  assert.ok(isRuntimeDescriptor('anon_inode:[eventfd]', 'flags:\t02004002\n'));
  assert.ok(isRuntimeDescriptor('pipe:[220825]', 'flags:\t02004000\n'));
  assert.not.ok(isRuntimeDescriptor('pipe:[220825]', 'flags:\t0\n'), 'a blocking pipe without close-on-exec');
  assert.not.ok(isRuntimeDescriptor('pipe:[220825]', 'flags:\t02000000\n'), 'a blocking pipe Node marked close-on-exec');
  assert.not.ok(isRuntimeDescriptor('/nix/store', 'flags:\t02100000\n'));
  assert.not.ok(isRuntimeDescriptor('socket:[1234]', 'flags:\t02004002\n'));
});

flags.run();

// ---

const numbers = suite('descriptor numbers');

numbers('should give bubblewrap the lowest numbers no kept descriptor uses', () => {
  assert.equal(controlDescriptors([]), {statusFd: 3, seccompFd: 4, passwdFd: 5, groupFd: 6, hostsFd: 7, fileFds: []});
  assert.equal(controlDescriptors([3]), {statusFd: 4, seccompFd: 5, passwdFd: 6, groupFd: 7, hostsFd: 8, fileFds: []});
  assert.equal(controlDescriptors([4, 3, 6]), {statusFd: 5, seccompFd: 7, passwdFd: 8, groupFd: 9, hostsFd: 10, fileFds: []});
  assert.equal(controlDescriptors([240]), {statusFd: 3, seccompFd: 4, passwdFd: 5, groupFd: 6, hostsFd: 7, fileFds: []});
});

numbers('should give files written into the jail (an Xauthority) the next free numbers', () => {
  assert.equal(controlDescriptors([], 1), {statusFd: 3, seccompFd: 4, passwdFd: 5, groupFd: 6, hostsFd: 7, fileFds: [8]});
  assert.equal(controlDescriptors([9, 7], 2), {statusFd: 3, seccompFd: 4, passwdFd: 5, groupFd: 6, hostsFd: 8, fileFds: [10, 11]});
});

numbers('should accept numbers above 2 only', () => {
  assert.is(parseKeepFd('240'), 240);
  assert.is(parseKeepFd('3'), 3);
  for (const bad of ['0', '1', '2']) throwsJail(() => parseKeepFd(bad), 'usage', `--keep-fd ${bad}: descriptors 0, 1 and 2 always reach the program`);
  for (const bad of ['', '-1', '3a', '0x10', ' 5', '1e3']) throwsJail(() => parseKeepFd(bad), 'usage', `--keep-fd needs a descriptor number, got ${JSON.stringify(bad)}`);
  throwsJail(() => parseKeepFd('99999999999999999999'), 'usage', '--keep-fd 99999999999999999999: not a descriptor number');
});

numbers('should share kept descriptors at their own numbers and leave the others out', () => {
  assert.equal(stdioTable({statusFd: 3, inputs: new Map([[4, Buffer.alloc(0)]]), keep: []}), ['inherit', 'inherit', 'inherit', 'pipe', 'pipe']);
  assert.equal(stdioTable({statusFd: 4, inputs: new Map([[5, Buffer.alloc(0)]]), keep: [3, 7]}),
    ['inherit', 'inherit', 'inherit', 3, 'pipe', 'pipe', 'ignore', 7]);
});

numbers.run();
