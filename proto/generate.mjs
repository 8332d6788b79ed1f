// Regenerates proto/gen from the .proto files with npm-installed tools only
// (buf + ts-proto). With --check it fails when the committed gen/ is stale,
// when lint fails, or when the contract breaks compatibility with main.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, cpSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const protoDir = dirname(fileURLToPath(import.meta.url));
const buf = join(protoDir, '..', 'node_modules', '.bin', 'buf');
const check = process.argv.includes('--check');

function run(args, opts = {}) {
  execFileSync(buf, args, { cwd: protoDir, stdio: 'inherit', ...opts });
}

function listFiles(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

run(['lint']);
const out = mkdtempSync(join(tmpdir(), 'mcpgw-proto-'));
try {
  run(['generate', '--output', out]);
  const fresh = join(out, 'gen');
  const committed = join(protoDir, 'gen');
  if (check) {
    const a = listFiles(fresh);
    const b = listFiles(committed);
    const stale = a.length !== b.length || a.some((f, i) => f !== b[i] ||
      !readFileSync(join(fresh, f)).equals(readFileSync(join(committed, f))));
    if (stale) {
      console.error('proto:check: proto/gen is stale; run `npm run proto:gen` and commit the result');
      process.exit(1);
    }
    checkBreaking();
    console.log('proto:check: generated code is current and the contract is compatible');
  } else {
    rmSync(committed, { recursive: true, force: true });
    cpSync(fresh, committed, { recursive: true });
    console.log('proto:gen: wrote proto/gen');
  }
} finally {
  rmSync(out, { recursive: true, force: true });
}

// Compare with the contract as last committed on main (or HEAD when there is
// no main branch, e.g. a detached CI checkout). Nothing to compare on the
// commit that introduces the contract.
function checkBreaking() {
  const git = (args) => execFileSync('git', args, { cwd: protoDir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  let ref;
  for (const candidate of ['main', 'HEAD']) {
    try {
      git(['cat-file', '-e', `${candidate}:proto/mcpgw/registry/v1/registry.proto`]);
      ref = candidate;
      break;
    } catch { /* not there */ }
  }
  if (!ref) {
    console.log('proto:check: no committed contract to compare with; skipping breaking check');
    return;
  }
  const top = git(['rev-parse', '--show-toplevel']);
  run(['breaking', '--against', `${join(top, '.git')}#ref=${ref},subdir=proto`]);
}
