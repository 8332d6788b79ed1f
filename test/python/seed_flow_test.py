"""The Python seed flow against a running gateway (CI runs it; stdlib unittest).

    python3 -m venv /tmp/venv-seed && /tmp/venv-seed/bin/pip install -r examples/python/requirements.txt
    MCPGW_URL=http://localhost:4000 /tmp/venv-seed/bin/python test/python/seed_flow_test.py

MCPGW_URL: the gateway (with the bundled demo upstream, as `npm start` runs it).
OPENAI_BASE_URL: where the OpenAI client goes. Unset, the model half is skipped.
Point it at the gateway's /v1 (with a model_list routing MODEL to the scripted
provider; `npm run test:python` starts all of it, test/python/run.sh) or
straight at the scripted provider started with test/python/provider-script.json
(the server-side MCP tools test then skips):
    node --import tsx test/fixtures/openai-provider/cli.ts --script test/python/provider-script.json
MCPGW_API_KEY: the gateway's key, when it has one. MODEL: default gpt-scripted.
"""

from __future__ import annotations

import json
import os
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "python"))

import seed_flow  # noqa: E402
from mcp import ClientSession  # noqa: E402
from mcp.client.sse import sse_client  # noqa: E402
from mcp.client.streamable_http import streamable_http_client  # noqa: E402
from openai import AsyncOpenAI  # noqa: E402
from openai.types.chat import ChatCompletionMessageFunctionToolCall as ToolCall  # noqa: E402

GATEWAY = os.environ.get("MCPGW_URL", "http://localhost:4000").rstrip("/")
PROVIDER = os.environ.get("OPENAI_BASE_URL")
API_KEY = os.environ.get("MCPGW_API_KEY")
HEADERS = {"Authorization": f"Bearer {API_KEY}"} if API_KEY else None


def call(name: str, arguments: str, id: str = "call_1") -> ToolCall:
    return ToolCall(id=id, type="function", function={"name": name, "arguments": arguments})


class SeedFlow(unittest.IsolatedAsyncioTestCase):
    async def test_legacy_sse_lists_transforms_and_calls(self) -> None:
        names: dict[str, str] = {}
        async with sse_client(f"{GATEWAY}/mcp/", headers=HEADERS) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                tools = await seed_flow.load_mcp_tools(session, names)
                by_name = {t["function"]["name"]: t for t in tools}
                self.assertIn("demo__add", by_name)
                add = by_name["demo__add"]
                self.assertEqual(add["type"], "function")
                self.assertEqual(add["function"]["parameters"]["type"], "object")
                self.assertEqual(sorted(add["function"]["parameters"]["properties"]), ["a", "b"])
                self.assertEqual(by_name["demo__current_time"]["function"]["parameters"]["properties"], {})
                for t in tools:
                    self.assertLessEqual(len(t["function"]["name"]), 64)

                c = call("demo__add", '{"a": 2, "b": 3}')
                self.assertEqual(seed_flow.transform_openai_tool_call_request_to_mcp_tool_call_request(c, names), ("demo__add", {"a": 2, "b": 3}))
                self.assertEqual(await seed_flow.call_openai_tool(session, c, names), {"role": "tool", "tool_call_id": "call_1", "content": "5"})
                failed = await seed_flow.call_openai_tool(session, call("demo__fail", '{"reason": "nope"}'), names)
                self.assertEqual(failed["content"], "Error: nope")

    async def test_invalid_arguments_are_an_error_naming_the_call(self) -> None:
        with self.assertRaises(seed_flow.ToolArgumentsError) as ctx:
            seed_flow.transform_openai_tool_call_request_to_mcp_tool_call_request(call("demo__add", '{"a": 2,', "call_bad"), {})
        self.assertIn("call_bad", str(ctx.exception))
        self.assertIn("demo__add", str(ctx.exception))
        self.assertEqual(seed_flow.provider_tool_name("x" * 70)[:56], "x" * 55 + "_")
        self.assertEqual(len(seed_flow.provider_tool_name("x" * 70)), 64)

    @unittest.skipIf(API_KEY is not None, "streamable_http_client without an httpx client sends no key")
    async def test_streamable_http(self) -> None:
        async with streamable_http_client(f"{GATEWAY}/mcp") as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                tools = await seed_flow.load_mcp_tools(session, {}, format="mcp")
                self.assertIn("demo__echo", [t.name for t in tools])
                result = await session.call_tool("demo__echo", {"message": "hi"})
                self.assertEqual(seed_flow.tool_result_text(result), "hi")

    @unittest.skipUnless(PROVIDER, "OPENAI_BASE_URL not set: the model half needs the scripted provider or the gateway's /v1")
    async def test_tool_loop_with_the_openai_client(self) -> None:
        names: dict[str, str] = {}
        client = AsyncOpenAI(base_url=PROVIDER, api_key=API_KEY or "sk-test", max_retries=0)
        async with sse_client(f"{GATEWAY}/mcp/", headers=HEADERS) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                tools = await seed_flow.load_mcp_tools(session, names)
                messages: list = [{"role": "user", "content": "What is 2 + 3?"}]
                reason, answer = await seed_flow.run_tool_loop(client, session, os.environ.get("MODEL", "gpt-scripted"), messages, tools, names)
        self.assertEqual((reason, answer), ("answer", "2 + 3 = 5"))
        tool_messages = [m for m in messages if isinstance(m, dict) and m.get("role") == "tool"]
        self.assertEqual(tool_messages[0], {"role": "tool", "tool_call_id": "call_add", "content": "5"})
        self.assertEqual(tool_messages[1]["tool_call_id"], "call_bad")
        self.assertTrue(tool_messages[1]["content"].startswith("Error: tool call call_bad (demo__echo): arguments are not a JSON object"))
        self.assertEqual(tool_messages[2], {"role": "tool", "tool_call_id": "call_echo", "content": "retried"})
        self.assertEqual(json.loads(json.dumps(messages[1]))["tool_calls"][0]["function"]["name"], "demo__add")

    # Named to sort after test_tool_loop: the scripted provider answers in order.
    @unittest.skipUnless(PROVIDER and PROVIDER.rstrip("/").startswith(GATEWAY), "OPENAI_BASE_URL is not the gateway's /v1: server-side MCP tools need the gateway")
    async def test_using_mcp_tools_on_the_gateway(self) -> None:
        client = AsyncOpenAI(base_url=PROVIDER, api_key=API_KEY or "sk-test", max_retries=0)
        model = os.environ.get("MODEL", "gpt-scripted")
        response = await seed_flow.ask_with_gateway_tools(client, model, "What is 2 + 3?")
        self.assertEqual([o.type for o in response.output], ["mcp_list_tools", "mcp_call", "message"])
        self.assertIn("demo__add", [t.name for t in response.output[0].tools])
        self.assertEqual((response.output[1].name, response.output[1].output), ("demo__add", "5"))
        self.assertEqual(response.output_text, "2 + 3 = 5")
        completion = await client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "What is 2 + 3?"}], tools=[seed_flow.GATEWAY_MCP_TOOL],
        )
        self.assertEqual(completion.choices[0].message.content, "2 + 3 = 5")


if __name__ == "__main__":
    unittest.main(verbosity=2)
