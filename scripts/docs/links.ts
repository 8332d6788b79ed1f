// `npm run docs:links`: every relative link and #anchor in README.md,
// CHANGELOG.md, bench/README.md and docs/*.md resolves. Links inside code
// blocks and external (scheme://, mailto:) links are not checked.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { outsideFences } from './blocks.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** GitHub's heading anchor: lower case, punctuation dropped (not `-` or `_`), spaces to `-`. */
export function slug(heading: string): string {
  return heading
    .replace(/`/g, '')
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\- _]/gu, '')
    .replace(/ /g, '-');
}

/** The anchors a Markdown text defines: its headings (with -1, -2 for repeats) and explicit `<a id>`/`<a name>`. */
export function anchorsOf(text: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  const body = outsideFences(text);
  for (const m of body.matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const base = slug(m[1]!);
    const n = seen.get(base);
    seen.set(base, (n ?? -1) + 1);
    out.add(n === undefined ? base : `${base}-${n + 1}`);
  }
  for (const m of body.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) out.add(m[1]!);
  return out;
}

/** Markdown links and images `[text](target)` outside code blocks and inline code. */
export function linksOf(text: string): { target: string; line: number }[] {
  const lines = outsideFences(text).split('\n');
  const out: { target: string; line: number }[] = [];
  lines.forEach((raw, i) => {
    const line = raw.replace(/`[^`]*`/g, '');
    for (const m of line.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) out.push({ target: m[1]!, line: i + 1 });
  });
  return out;
}

export function pagesToCheck(root = ROOT): string[] {
  const docs = readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`);
  return ['README.md', 'CHANGELOG.md', 'bench/README.md', ...docs].filter((f) => existsSync(join(root, f)));
}

export function checkLinks(root = ROOT): string[] {
  const problems: string[] = [];
  const anchors = new Map<string, Set<string>>();
  const anchorsFor = (file: string) => {
    if (!anchors.has(file)) anchors.set(file, anchorsOf(readFileSync(file, 'utf8')));
    return anchors.get(file)!;
  };
  for (const page of pagesToCheck(root)) {
    const file = join(root, page);
    for (const { target, line } of linksOf(readFileSync(file, 'utf8'))) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:, …
      const [pathPart, fragment] = target.split('#', 2) as [string, string | undefined];
      const dest = pathPart ? normalize(join(dirname(file), decodeURIComponent(pathPart))) : file;
      if (!existsSync(dest)) {
        problems.push(`${page}:${line}: ${target}: no such file ${relative(root, dest)}`);
        continue;
      }
      if (fragment && statSync(dest).isFile() && dest.endsWith('.md') && !anchorsFor(dest).has(fragment)) {
        problems.push(`${page}:${line}: ${target}: no heading with anchor #${fragment} in ${relative(root, dest)}`);
      }
    }
  }
  return problems;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const problems = checkLinks();
  if (problems.length) {
    console.error(`docs:links: ${problems.length} broken link(s)\n${problems.join('\n')}`);
    process.exitCode = 1;
  } else {
    console.log(`docs:links: every relative link and anchor of ${pagesToCheck().length} pages resolves`);
  }
}
