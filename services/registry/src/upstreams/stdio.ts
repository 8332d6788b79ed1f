// A stdio client transport like the SDK's, but the child gets its own process
// group, so stopping an upstream ends everything it started (npx -> node ...)
// and leaves no orphans; stderr lines go to the registry's log.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { getDefaultEnvironment } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ReadBuffer, serializeMessage } from '@modelcontextprotocol/sdk/shared/stdio.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { ServerConfig } from '@mcpgw/common/config';

const TERM_GRACE_MS = 2_000;

export class StdioUpstreamTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  private child?: ChildProcess;
  private readonly buffer = new ReadBuffer();

  constructor(private readonly cfg: ServerConfig, private readonly onStderr: (line: string) => void) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      const child = spawn(this.cfg.command!, this.cfg.args, {
        env: { ...getDefaultEnvironment(), ...this.cfg.env },
        cwd: this.cfg.cwd,
        stdio: ['pipe', 'pipe', 'pipe'],
        detached: true,
      });
      this.child = child;
      child.on('error', (err) => {
        reject(err);
        this.onerror?.(err);
      });
      child.on('spawn', () => resolve());
      child.on('close', () => {
        this.child = undefined;
        this.onclose?.();
      });
      child.stdin!.on('error', (err) => this.onerror?.(err));
      child.stdout!.on('data', (chunk: Buffer) => {
        this.buffer.append(chunk);
        for (;;) {
          let msg: JSONRPCMessage | null;
          try {
            msg = this.buffer.readMessage();
          } catch (err) {
            this.onerror?.(err as Error);
            continue;
          }
          if (!msg) break;
          this.onmessage?.(msg);
        }
      });
      createInterface({ input: child.stderr! }).on('line', (line) => {
        if (line.trim()) this.onStderr(line.slice(0, 2000));
      });
    });
  }

  send(message: JSONRPCMessage): Promise<void> {
    return new Promise((resolve, reject) => {
      const stdin = this.child?.stdin;
      if (!stdin || stdin.destroyed) return reject(new Error('stdio upstream is not running'));
      if (stdin.write(serializeMessage(message))) resolve();
      else stdin.once('drain', resolve);
    });
  }

  /** Closes stdin, then SIGTERM and finally SIGKILL to the whole process group. */
  async close(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const waitExit = () => Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), TERM_GRACE_MS).unref())]);
    const pid = child.pid!;
    child.stdin?.end();
    if (!(await waitExit())) {
      killGroup(pid, 'SIGTERM');
      if (!(await waitExit())) {
        killGroup(pid, 'SIGKILL');
        await exited;
      }
    }
    // Whatever the server started and left behind in its group goes too.
    killGroup(pid, 'SIGKILL');
  }
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch { /* the group is gone */ }
}
