// A one-line progress display on stderr: rewritten in place on a terminal,
// one line per step otherwise (CI logs, the smoke test).

export class Progress {
  private done = 0;
  private readonly started = Date.now();
  private readonly tty = Boolean(process.stderr.isTTY);
  private current = '';

  constructor(private total: number, private readonly quiet = false) {}

  addTotal(n: number): void {
    this.total += n;
  }

  private prefix(): string {
    const s = Math.round((Date.now() - this.started) / 1000);
    const clock = `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
    const width = String(this.total).length;
    return `[${String(this.done).padStart(width)}/${this.total} ${clock}]`;
  }

  /** A step begins. */
  step(label: string): void {
    this.current = label;
    if (this.tty && !this.quiet) process.stderr.write(`\r\x1b[K${this.prefix()} ${label} …`);
  }

  /** The current step ended with `outcome`. */
  end(outcome: string): void {
    this.done++;
    if (this.quiet) return;
    if (this.tty) process.stderr.write(`\r\x1b[K${this.prefix()} ${this.current}: ${outcome}`);
    else process.stderr.write(`${this.prefix()} ${this.current}: ${outcome}\n`);
  }

  /** A message on its own line. */
  note(msg: string): void {
    if (this.quiet) return;
    process.stderr.write(this.tty ? `\r\x1b[K${msg}\n` : `${msg}\n`);
  }

  finish(): void {
    if (this.tty && !this.quiet) process.stderr.write('\n');
  }
}
