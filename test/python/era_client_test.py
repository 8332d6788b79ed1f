"""The Python MCP SDK 2.x against a running gateway, in both eras.

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install -r test/python/requirements.txt
    npm start &                      # gateway on :4000 with the bundled demo upstream
    /tmp/venv/bin/python test/python/era_client_test.py http://localhost:4000/mcp [--era legacy|modern|both]

legacy: initialize(), then tools/list and tools/call over a 2025 session.
modern: discover() (server/discover, 2026-07-28), then tools/list and
tools/call statelessly (no Mcp-Session-Id anywhere). Exits non-zero on the
first failure, printing what was expected. test/integration/python-era.test.ts
runs it against a test gateway when MCPGW_PYTHON names a Python with the SDK.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import anyio
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

TOOL = "demo__add"  # the bundled demo upstream's add(a, b) behind `npm start`


def text_of(result: Any) -> str:
    return "".join(getattr(c, "text", "") for c in result.content)


def check(cond: bool, what: str) -> None:
    if not cond:
        raise AssertionError(what)


async def list_and_call(session: ClientSession, era: str) -> None:
    tools = await session.list_tools()
    names = [t.name for t in tools.tools]
    check(TOOL in names, f"{era}: tools/list names {TOOL} (got {names[:10]}...)")
    result = await session.call_tool(TOOL, {"a": 2, "b": 3})
    check(not result.is_error, f"{era}: {TOOL} succeeded ({text_of(result)})")
    check(text_of(result) == "5", f"{era}: {TOOL}(2, 3) answered '5' (got {text_of(result)!r})")


async def legacy(url: str) -> None:
    async with streamable_http_client(url) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            check(init.protocol_version.startswith("2025-"), f"legacy: negotiated a 2025 version (got {init.protocol_version})")
            check(init.server_info.name == "mcpgw", f"legacy: the gateway names itself (got {init.server_info.name})")
            await list_and_call(session, "legacy")
    print(f"ok legacy: initialize() negotiated {init.protocol_version}; list and call work")


async def modern(url: str) -> None:
    async with streamable_http_client(url) as (read, write):
        async with ClientSession(read, write) as session:
            discover = await session.discover()
            check("2026-07-28" in discover.supported_versions, f"modern: discover() offers 2026-07-28 (got {discover.supported_versions})")
            check(session.protocol_version == "2026-07-28", f"modern: adopted 2026-07-28 (got {session.protocol_version})")
            await list_and_call(session, "modern")
    print("ok modern: discover() adopted 2026-07-28; list and call work statelessly")


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("url", nargs="?", default="http://localhost:4000/mcp")
    parser.add_argument("--era", choices=["legacy", "modern", "both"], default="both")
    args = parser.parse_args()
    failed = False
    for name, run in (("legacy", legacy), ("modern", modern)):
        if args.era not in (name, "both"):
            continue
        try:
            with anyio.fail_after(30):
                await run(args.url)
        except BaseException as err:  # noqa: BLE001 - report every kind of failure, then continue
            failed = True
            print(f"FAIL {name}: {type(err).__name__}: {err}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(anyio.run(main))
