// One meaning per error code, and the table of docs/troubleshooting.md says the same as the code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ERROR_CODE_MEANING, ErrorCode } from '@mcpgw/common/jsonrpc';

test('every error code is unique and documented in docs/troubleshooting.md with its meaning', () => {
  const codes = Object.values(ErrorCode);
  assert.equal(new Set(codes).size, codes.length, 'two names share a code');
  const readme = readFileSync(new URL('../../docs/troubleshooting.md', import.meta.url), 'utf8');
  for (const [name, code] of Object.entries(ErrorCode)) {
    const row = `| ${code} | ${name} | ${ERROR_CODE_MEANING[name as keyof typeof ErrorCode]} |`;
    assert.ok(readme.includes(row), `docs/troubleshooting.md lacks the row: ${row}`);
  }
});
