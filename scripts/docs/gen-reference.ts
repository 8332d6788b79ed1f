// `npm run docs:gen` writes the generated reference sections of the guide;
// `npm run docs:check` fails when the checked-in pages differ from what this
// script generates. Sources:
//   - the config file's schemas (packages/common/src/config.ts) and the edge's
//     environment schema (services/edge/src/settings.ts), zod 4, through
//     z.toJSONSchema(); texts come from their .describe() calls;
//   - the Helm chart's values.schema.json, with defaults from values.yaml and
//     texts from the schema's descriptions, else the comment above the key in
//     values.yaml.
// A generated section sits between `<!-- BEGIN GENERATED: name -->` and
// `<!-- END GENERATED: name -->`; the text around it is hand-written and kept.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { isMap, isScalar, isSeq, parseDocument, type Node as YamlNode } from 'yaml';
import { gatewaySchema, modelSchema, serverSchema } from '../../packages/common/src/config.js';
import { envSchema } from '../../services/edge/src/settings.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

type Json = { [k: string]: unknown };
interface Row { key: string; type: string; fallback?: string; text: string }

/** Table cell text: pipes escaped, `<…>` shown rather than read as HTML, one line. */
const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\n+/g, ' ').trim();
const code = (s: string) => (s.includes('`') ? `\`\` ${s} \`\`` : `\`${s}\``);

/** A short type: `string`, `integer ≥ 1`, `stdio \| sse`, `list of string`, `map of string → …`. */
function typeOf(s: Json, defs: Json = {}): string {
  if (typeof s.$ref === 'string') {
    const name = s.$ref.split('/').pop()!;
    return name;
  }
  if (Array.isArray(s.enum)) return s.enum.map((v) => JSON.stringify(v).replace(/^"|"$/g, '')).join(' | ');
  if (s.const !== undefined) return String(s.const);
  const alts = (s.anyOf ?? s.oneOf) as Json[] | undefined;
  if (alts) return [...new Set(alts.map((a) => typeOf(a, defs)))].join(' or ');
  const t = Array.isArray(s.type) ? s.type.join(' or ') : (s.type as string | undefined) ?? 'any';
  if (t === 'array') return `list of ${s.items ? typeOf(s.items as Json, defs) : 'any'}`;
  if (t === 'object' && s.additionalProperties && typeof s.additionalProperties === 'object' && !s.properties) return `map of ${typeOf(s.additionalProperties as Json, defs)}`;
  if (t === 'integer' || t === 'number') {
    const min = s.minimum ?? (s.exclusiveMinimum !== undefined ? Number(s.exclusiveMinimum) + (t === 'integer' ? 1 : 0) : undefined);
    return min !== undefined && Number(min) > 0 ? `${t} ≥ ${min}` : t;
  }
  if (s.format === 'uri') return 'URL';
  if (s.format === 'date-time') return 'date-time';
  return t;
}

/** Rows for every property, descending into objects, lists of objects and maps of objects. */
function flatten(s: Json, prefix: string, rows: Row[], opts: { defaults?: (path: string[]) => unknown; comment?: (path: string[]) => string | undefined; path?: string[]; defs?: Json } = {}): void {
  const path = opts.path ?? [];
  const props = s.properties as Record<string, Json> | undefined;
  if (!props) return;
  for (const [name, prop] of Object.entries(props)) {
    const key = prefix ? `${prefix}.${name}` : name;
    const p = [...path, name];
    const d = opts.defaults ? opts.defaults(p) : prop.default;
    const text = (prop.description as string | undefined) ?? opts.comment?.(p) ?? '';
    rows.push({ key, type: typeOf(prop, opts.defs), fallback: d === undefined ? undefined : JSON.stringify(d), text });
    const inner = (x: Json | undefined, suffix: string) => {
      if (x && x.properties) flatten(x, `${key}${suffix}`, rows, { ...opts, path: suffix ? [...p, suffix] : p });
    };
    inner(prop, '');
    if (prop.type === 'array') inner(prop.items as Json | undefined, '[]');
    if (prop.additionalProperties && typeof prop.additionalProperties === 'object') inner(prop.additionalProperties as Json, '.<name>');
  }
}

function table(rows: Row[], withDefault: boolean): string {
  const head = withDefault ? '| key | type | default | description |\n|---|---|---|---|' : '| key | type | description |\n|---|---|---|';
  return [head, ...rows.map((r) => withDefault
    ? `| ${code(r.key)} | ${cell(r.type)} | ${r.fallback === undefined ? '' : code(r.fallback)} | ${cell(r.text)} |`
    : `| ${code(r.key)} | ${cell(r.type)} | ${cell(r.text)} |`)].join('\n');
}

const jsonSchema = (schema: z.ZodType) => z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Json;

function configFileSection(): string {
  const server: Row[] = [];
  flatten(jsonSchema(serverSchema), '', server);
  const gateway: Row[] = [];
  flatten(jsonSchema(gatewaySchema), '', gateway);
  const model: Row[] = [];
  flatten(jsonSchema(modelSchema), '', model);
  return [
    '### `mcp_servers.<name>`',
    '',
    'One upstream server; `<name>` is `[A-Za-z0-9_-]+` without the tool separator. Either `command` (stdio) or `url`.',
    '',
    table(server, false),
    '',
    '### `gateway`',
    '',
    'The edge reads this block at start; the registry reads it with the rest of the file (and reloads it).',
    '',
    table(gateway, false),
    '',
    '### `model_list[]`',
    '',
    'Models of the OpenAI-compatible endpoint ([LLM](llm.md)); read by the edge.',
    '',
    table(model, false),
  ].join('\n');
}

function edgeEnvSection(): string {
  const rows: Row[] = [];
  flatten(jsonSchema(envSchema), '', rows);
  return ['### Edge', '', 'Validated at start (`services/edge/src/settings.ts`); a bad value stops the edge with exit code 2 naming the variable.', '', table(rows, true)].join('\n');
}

/** values.yaml: the default at a path, and the comment block above its key. */
function valuesYaml() {
  const doc = parseDocument(readFileSync(join(ROOT, 'helm/mcpgw/values.yaml'), 'utf8'));
  const nodeAt = (path: string[]): { node?: YamlNode; comment?: string } => {
    let node: unknown = doc.contents;
    let comment: string | undefined;
    for (const seg of path) {
      if (!isMap(node)) return {};
      const index = node.items.findIndex((i) => isScalar(i.key) && i.key.value === seg);
      if (index < 0) return {};
      const pair = node.items[index]!;
      // The comment above a map's first key belongs to the map in the yaml library's tree.
      comment = (pair.key as YamlNode).commentBefore ?? (index === 0 && node !== doc.contents ? node.commentBefore : undefined) ?? undefined;
      node = pair.value;
    }
    return { node: node as YamlNode, comment };
  };
  return {
    defaults: (path: string[]): unknown => {
      if (path.some((p) => p === '[]' || p === '.<name>' || p === '')) return undefined;
      const { node } = nodeAt(path);
      if (!node) return undefined;
      if (isScalar(node)) return node.value;
      if ((isMap(node) || isSeq(node)) && node.items.length === 0) return isMap(node) ? {} : [];
      if (isSeq(node) && node.items.every(isScalar)) return node.toJSON();
      return undefined; // a structured default: see values.yaml
    },
    comment: (path: string[]): string | undefined => {
      if (path.some((p) => p === '[]' || p === '.<name>' || p === '')) return undefined;
      const c = nodeAt(path).comment;
      if (!c) return undefined;
      // Drop example blocks (indented lines after "Example:") and keep the prose.
      const lines = c.split('\n').map((l) => l.replace(/^\s?/, ''));
      const cut = lines.findIndex((l) => /^(Example|e\.g\.)\b.*:\s*$/.test(l.trim()));
      return (cut >= 0 ? lines.slice(0, cut) : lines).filter((l) => !/^\s{2,}/.test(l)).join(' ').replace(/\s+/g, ' ').trim();
    },
  };
}

function helmValuesSection(): string {
  const schema = JSON.parse(readFileSync(join(ROOT, 'helm/mcpgw/values.schema.json'), 'utf8')) as Json;
  const rows: Row[] = [];
  const v = valuesYaml();
  flatten(schema, '', rows, { defaults: v.defaults, comment: v.comment, defs: schema.definitions as Json });
  const defs = Object.keys((schema.definitions as Json | undefined) ?? {});
  return [
    `Types named after a definition (${defs.map((d) => code(d)).join(', ')}) are the Kubernetes shapes of \`values.schema.json\`'s definitions; a default left empty is structured, see \`helm/mcpgw/values.yaml\`.`,
    '',
    table(rows.filter((r) => r.key !== 'global'), true),
  ].join('\n');
}

const SECTIONS: { file: string; name: string; render: () => string }[] = [
  { file: 'docs/configuration.md', name: 'config-file', render: configFileSection },
  { file: 'docs/configuration.md', name: 'env-edge', render: edgeEnvSection },
  { file: 'docs/deploy-helm.md', name: 'helm-values', render: helmValuesSection },
];

/** The page with every generated section of it rewritten. */
export function generate(file: string, text: string): string {
  let out = text;
  for (const s of SECTIONS.filter((x) => x.file === file)) {
    const begin = `<!-- BEGIN GENERATED: ${s.name} -->`;
    const end = `<!-- END GENERATED: ${s.name} -->`;
    const a = out.indexOf(begin);
    const b = out.indexOf(end);
    if (a < 0 || b < a) throw new Error(`${file}: markers of the generated section '${s.name}' are missing`);
    out = `${out.slice(0, a + begin.length)}\n<!-- Generated by npm run docs:gen; edit the schema, not this table. -->\n\n${s.render()}\n\n${out.slice(b)}`;
  }
  return out;
}

function main(): number {
  const check = process.argv.includes('--check');
  const stale: string[] = [];
  for (const file of [...new Set(SECTIONS.map((s) => s.file))]) {
    const path = join(ROOT, file);
    const before = readFileSync(path, 'utf8');
    const after = generate(file, before);
    if (before === after) continue;
    if (check) stale.push(file);
    else {
      writeFileSync(path, after);
      console.log(`docs:gen: wrote ${file}`);
    }
  }
  if (check && stale.length) {
    console.error(`docs:check: generated sections are stale in ${stale.join(', ')}; run npm run docs:gen and commit the result`);
    return 1;
  }
  if (check) console.log('docs:check: the generated references are up to date');
  return 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) process.exitCode = main();
