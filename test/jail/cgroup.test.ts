import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {JailError} from '../../src/errors.js';
import {cgroupUnavailable, parseCgroupLimits, scopeProperties, scopeWords, type CgroupFacts} from '../../src/jail/cgroup.js';

const DELEGATED: CgroupFacts = {isRoot: false, uid: 1000, unified: true, systemdRun: '/usr/bin/systemd-run', manager: true, controllers: ['cpu', 'memory', 'pids']};

test('parseCgroupLimits: sizes, CPUs with two decimals, process counts; nothing given, nothing', () => {
  assert.is(parseCgroupLimits({}), undefined);
  assert.equal(parseCgroupLimits({memory: '512M'}), {memoryBytes: 512 * 1024 ** 2});
  assert.equal(parseCgroupLimits({memory: '1M', cpus: '0.25', pids: '1'}), {memoryBytes: 1024 ** 2, cpus: 0.25, pids: 1});
  assert.equal(parseCgroupLimits({memory: '2G', cpus: '4096'}), {memoryBytes: 2 * 1024 ** 3, cpus: 4096});
  assert.equal(parseCgroupLimits({cpus: '0.01'}), {cpus: 0.01});
  assert.equal(parseCgroupLimits({memory: '2097152', pids: '20'}), {memoryBytes: 2097152, pids: 20});
  for (const [given, message] of [
    [{memory: '1023K'}, /--memory must be a size such as 512M or 2G, at least 1M, got "1023K"/],
    [{memory: '1T'}, /--memory must be a size/],
    [{memory: ''}, /--memory must be a size/],
    [{cpus: '0'}, /--cpus must be a number of CPUs/],
    [{cpus: '0.001'}, /two decimals at most/],
    [{cpus: '4097'}, /--cpus must be/],
    [{cpus: '.5'}, /--cpus must be/],
    [{pids: '0'}, /--pids must be a number of processes, at least 1, got "0"/],
    [{pids: '1.5'}, /--pids must be/],
    [{pids: ' 5'}, /--pids must be/],
    [{pids: '5 '}, /--pids must be/],
    [{memory: 'x512M'}, /--memory must be/],
    [{memory: '512Mx'}, /--memory must be/],
    [{cpus: '1.555'}, /--cpus must be/],
  ] as Array<[Record<string, string>, RegExp]>) {
    assert.throws(() => parseCgroupLimits(given), (error: unknown) => error instanceof JailError && error.kind === 'usage' && message.test(error.message), JSON.stringify(given));
  }
});

test('scopeProperties and scopeWords: systemd\'s names, no swap beside memory, the user\'s manager for a user', () => {
  assert.equal(scopeProperties({memoryBytes: 1048576, cpus: 1.5, pids: 20}), ['MemoryMax=1048576', 'MemorySwapMax=0', 'CPUQuota=150%', 'TasksMax=20']);
  assert.equal(scopeProperties({cpus: 0.25}), ['CPUQuota=25%']);
  assert.equal(scopeWords({pids: 5}, DELEGATED), ['/usr/bin/systemd-run', '--user', '--scope', '--quiet', '--collect', '--property=TasksMax=5', '--']);
  assert.equal(scopeWords({pids: 5}, {...DELEGATED, isRoot: true, uid: 0}).slice(0, 3), ['/usr/bin/systemd-run', '--scope', '--quiet']);
});

test('cgroupUnavailable: each missing piece named in one line, with the options asked', () => {
  assert.is(cgroupUnavailable({memoryBytes: 1, cpus: 1, pids: 1}, DELEGATED), undefined);
  assert.match(cgroupUnavailable({memoryBytes: 1, pids: 1}, {...DELEGATED, unified: false})!, /^--memory, --pids: this host's cgroups at \/sys\/fs\/cgroup are not version 2/);
  assert.match(cgroupUnavailable({cpus: 1}, {...DELEGATED, systemdRun: undefined})!, /^--cpus: systemd-run not found on PATH/);
  assert.match(cgroupUnavailable({pids: 1}, {...DELEGATED, manager: false})!, /^--pids: no systemd user manager answers/);
  assert.match(cgroupUnavailable({pids: 1}, {...DELEGATED, isRoot: true, manager: false})!, /^--pids: systemd is not running/);
  assert.is(cgroupUnavailable({memoryBytes: 1, cpus: 1}, {...DELEGATED, controllers: ['memory']}), '--cpus: the cgroup controller cpu is not delegated to you (user@1000.service\'s cgroup.controllers)');
  assert.is(cgroupUnavailable({memoryBytes: 1, cpus: 1, pids: 1}, {...DELEGATED, isRoot: true, controllers: undefined}),
    '--memory, --cpus, --pids: the cgroup controllers memory, cpu, pids are not delegated to you (/sys/fs/cgroup/cgroup.controllers)');
});

test.run();
