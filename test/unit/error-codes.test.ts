// One meaning per error code, and the README's table says the same as the code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ERROR_CODE_MEANING, ErrorCode } from '@mcpgw/common/jsonrpc';

test('every error code is unique and documented in the README with its meaning', () => {
  const codes = Object.values(ErrorCode);
  assert.equal(new Set(codes).size, codes.length, 'two names share a code');
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  for (const [name, code] of Object.entries(ErrorCode)) {
    const row = `| ${code} | ${name} | ${ERROR_CODE_MEANING[name as keyof typeof ErrorCode]} |`;
    assert.ok(readme.includes(row), `README lacks the row: ${row}`);
  }
});
