// A test file that starts a process with a child of its own, prints both pids,
// then hangs: the harness must not let either outlive this file, however it ends
// (a runner's timeout, a signal, SIGKILL). Used by test/integration/harness-cleanup.test.ts.
import { test } from 'node:test';
import { startProcess, waitForLine } from '../processes.js';

const LEADER = `
const { spawn } = require('node:child_process');
const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
console.log('pids ' + process.pid + ' ' + child.pid);
setInterval(() => {}, 1000);
`;

test('hangs with a process group running', async () => {
  const proc = startProcess(process.execPath, ['-e', LEADER]);
  const m = await waitForLine(proc, /^pids (\d+) (\d+)$/, 'pids');
  console.log(`started ${m[1]} ${m[2]}`);
  await new Promise(() => { /* never: the runner's timeout or a kill ends this file */ });
});
