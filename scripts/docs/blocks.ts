// Fenced code blocks of a Markdown page, with their info strings: what the
// doc-test runner reads (`sh runnable`, `text output`, `yaml gateway-config`).
// The convention is documented in docs/README.md.

export interface Block {
  /** The first word of the info string (`sh`, `yaml`, `text`…). */
  lang: string;
  /** The other words of the info string (`runnable`, `output`, `gateway-config`, `env=A,B`). */
  flags: string[];
  body: string;
  /** 1-based line of the opening fence. */
  line: number;
  /** The index of the previous block when only blank lines separate the two. */
  follows?: number;
}

/** Every fenced block (``` or ~~~, three or more) of a Markdown text. */
export function fencedBlocks(text: string): Block[] {
  const lines = text.split('\n');
  const blocks: Block[] = [];
  let lastEnd = -2;
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,}|~{3,})\s*(.*)$/.exec(lines[i]!);
    if (!open) continue;
    const fence = open[2]!;
    const [lang = '', ...flags] = open[3]!.trim().split(/\s+/).filter(Boolean);
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length; j++) {
      const l = lines[j]!.trim();
      if (l.startsWith(fence[0]!.repeat(fence.length)) && /^[`~]+$/.test(l)) break;
      body.push(lines[j]!);
    }
    const between = lines.slice(lastEnd + 1, i);
    const follows = blocks.length > 0 && between.every((l) => l.trim() === '') ? blocks.length - 1 : undefined;
    blocks.push({ lang, flags, body: body.join('\n'), line: i + 1, follows });
    lastEnd = j;
    i = j;
  }
  return blocks;
}

/** The text outside fenced blocks (headings and links live there). */
export function outsideFences(text: string): string {
  const out: string[] = [];
  let fence: string | undefined;
  for (const line of text.split('\n')) {
    const m = /^\s*(`{3,}|~{3,})/.exec(line);
    if (m && (!fence || (line.trim().startsWith(fence) && /^[`~]+$/.test(line.trim())))) {
      fence = fence ? undefined : m[1];
      out.push('');
      continue;
    }
    out.push(fence ? '' : line);
  }
  return out.join('\n');
}
