// The harness's reaper: a tiny process that outlives a test file killed by a
// timeout or a signal (even SIGKILL) and kills the process groups it started.
// It reads "+<pgid>" and "-<pgid>" lines on stdin; stdin closing means the test
// file is gone, whatever way it went, so every group still listed is killed.
'use strict';
const groups = new Set();
let buffered = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  buffered += chunk;
  const lines = buffered.split('\n');
  buffered = lines.pop();
  for (const line of lines) {
    const pgid = Number(line.slice(1));
    if (!Number.isInteger(pgid) || pgid <= 1) continue;
    if (line[0] === '+') groups.add(pgid);
    else groups.delete(pgid);
  }
});
process.stdin.on('end', () => {
  for (const pgid of groups) {
    try { process.kill(-pgid, 'SIGKILL'); } catch { /* already gone */ }
  }
  process.exit(0);
});
