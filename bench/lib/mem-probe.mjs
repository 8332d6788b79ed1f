// Preloaded (--import) into the edge of the session-cost phase, which runs
// with --expose-gc: on SIGUSR2 it collects garbage and prints
// "bench-mem <n> <process.memoryUsage() as JSON>" on stderr.
let n = 0;
process.on('SIGUSR2', () => {
  const gc = globalThis.gc;
  if (typeof gc === 'function') {
    gc();
    gc();
  }
  n++;
  process.stderr.write(`bench-mem ${n} ${JSON.stringify(process.memoryUsage())}\n`);
});
