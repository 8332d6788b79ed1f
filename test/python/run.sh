#!/usr/bin/env bash
# Runs the Python tests (test/python/*_test.py) against a real gateway: a
# registry with the demo upstream as `demo`, an edge whose model_list routes
# `gpt-scripted` to the scripted OpenAI-compatible provider, and the official
# `mcp` and `openai` packages from PyPI in a venv cached under
# ~/.cache/mcpgw-venvs (keyed by the requirements file and the Python version).
# Needs: python3 (3.10+) and a built tree (`npm run test:python` builds first).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
REQUIREMENTS="examples/python/requirements.txt"
KEY="$( (cat "$REQUIREMENTS"; "$PYTHON" -c 'import sys; print(sys.version)') | sha256sum | cut -c1-16)"
VENV="${MCPGW_VENV_DIR:-$HOME/.cache/mcpgw-venvs}/$KEY"
if [ ! -x "$VENV/bin/python" ] || [ ! -f "$VENV/.complete" ]; then
  rm -rf "$VENV"
  mkdir -p "$(dirname "$VENV")"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
  touch "$VENV/.complete"
fi
exec node --import tsx test/python/run-gateway.ts "$VENV/bin/python" "$@"
