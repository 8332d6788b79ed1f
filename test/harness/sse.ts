export interface SseEvent {
  event: string;
  data: string;
  id?: string;
}

/** Reads a Server-Sent Events response event by event (comments skipped). */
export function sseReader(res: Response): { next(): Promise<SseEvent>; close(): void } {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = '';
  return {
    async next() {
      for (;;) {
        const end = buffered.indexOf('\n\n');
        if (end >= 0) {
          const block = buffered.slice(0, end);
          buffered = buffered.slice(end + 2);
          if (block.split('\n').every((l) => l.startsWith(':'))) continue;
          const field = (name: string) => new RegExp(`^${name}: ?(.*)$`, 'm').exec(block)?.[1];
          return { event: field('event') ?? 'message', data: field('data') ?? '', id: field('id') };
        }
        const { value, done } = await reader.read();
        if (done) throw new Error(`stream ended${buffered ? ` with unparsed: ${buffered}` : ''}`);
        buffered += value;
      }
    },
    close() {
      void reader.cancel().catch(() => {});
    },
  };
}
