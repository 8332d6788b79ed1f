"""The seed's flow against a running mcpgw, with the official `mcp` and `openai` packages.

1. `sse_client(<gateway>/mcp/)` (legacy SSE, as LiteLLM's clients connect) lists every tool;
2. the tools become OpenAI function tools (the same rules as `@mcpgw/bridge`);
3. a tool call in OpenAI's shape runs on MCP with its parsed arguments;
4. `AsyncOpenAI(base_url=<gateway>/v1)` runs a tool loop over those tools;
5. the same client asks the gateway to run its MCP tools itself
   (`{"type": "mcp", "server_url": "mcpgw"}`, as with OpenAI's MCP tool).

    pip install -r examples/python/requirements.txt
    python examples/python/seed_flow.py

Environment: MCPGW_URL (default http://localhost:4000), MCPGW_API_KEY (when the
gateway has a master key), OPENAI_BASE_URL (default $MCPGW_URL/v1), MODEL.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
from typing import Any

from mcp import ClientSession, types
from mcp.client.sse import sse_client
from openai import APIError, AsyncOpenAI

_SAFE_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


def _field(obj: Any, snake: str, camel: str, default: Any = None) -> Any:
    """mcp 2.x spells fields in snake_case, 1.x in camelCase; accept both."""
    value = getattr(obj, snake, None)
    return getattr(obj, camel, default) if value is None else value


def provider_tool_name(name: str) -> str:
    """The gateway's naming rule: valid names (<= 64 of [A-Za-z0-9_-]) are kept, others
    become their first 55 characters + '_' + 8 hex digits of sha256(name)."""
    if len(name) <= 64 and _SAFE_NAME.match(name):
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)[:55] + "_" + digest


class ToolArgumentsError(ValueError):
    """A tool call whose arguments are not a JSON object (never silently {})."""

    def __init__(self, tool_call_id: str, tool_name: str, reason: str):
        super().__init__(f"tool call {tool_call_id} ({tool_name}): arguments are not a JSON object: {reason}")
        self.tool_call_id = tool_call_id
        self.tool_name = tool_name


def _parameters(name: str, schema: Any) -> dict[str, Any]:
    if not schema:
        return {"type": "object", "properties": {}}
    types_ = schema.get("type")
    if types_ is not None and "object" not in (types_ if isinstance(types_, list) else [types_]):
        raise ValueError(f"tool {name}: input schema type is {types_!r}, not 'object'")
    out = {k: v for k, v in schema.items() if k != "$schema"}
    out["type"] = "object"
    if not isinstance(out.get("properties"), dict):
        out["properties"] = {}
    return out


def transform_mcp_tool_to_openai_tool(tool: types.Tool, names: dict[str, str]) -> dict[str, Any]:
    """An MCP tool as a Chat Completions function tool; `names` maps shortened names back."""
    name = provider_tool_name(tool.name)
    names[name] = tool.name
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": tool.description or "",
            "parameters": _parameters(tool.name, _field(tool, "input_schema", "inputSchema")),
        },
    }


async def load_mcp_tools(session: ClientSession, names: dict[str, str], format: str = "openai") -> list[Any]:
    """Every tool of tools/list (all pages), as MCP tools or OpenAI tools."""
    tools: list[types.Tool] = []
    cursor = None
    while True:
        result = await session.list_tools(params=types.PaginatedRequestParams(cursor=cursor) if cursor else None)
        tools.extend(result.tools)
        cursor = _field(result, "next_cursor", "nextCursor")
        if not cursor:
            break
    if format == "mcp":
        return tools
    return [transform_mcp_tool_to_openai_tool(t, names) for t in tools]


def transform_openai_tool_call_request_to_mcp_tool_call_request(tool_call: Any, names: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """(MCP tool name, parsed arguments) for a Chat Completions tool call."""
    fn = tool_call.function
    raw = fn.arguments or ""
    if not raw.strip():
        return names.get(fn.name, fn.name), {}
    try:
        args = json.loads(raw)
    except json.JSONDecodeError as err:
        raise ToolArgumentsError(tool_call.id, fn.name, str(err)) from err
    if not isinstance(args, dict):
        raise ToolArgumentsError(tool_call.id, fn.name, f"got {type(args).__name__}")
    return names.get(fn.name, fn.name), args


def tool_result_text(result: types.CallToolResult) -> str:
    """Text parts joined; structured content as JSON when there is no text; media described; errors marked."""
    lines: list[str] = []
    for block in result.content:
        if block.type == "text":
            lines.append(block.text)
        elif block.type in ("image", "audio"):
            lines.append(f"[{block.type}: {_field(block, 'mime_type', 'mimeType')}, {len(block.data) * 3 // 4 - block.data.count('=')} bytes]")
        elif block.type == "resource_link":
            lines.append(f"[resource: {block.uri}]")
        elif block.type == "resource":
            lines.append(f"[resource: {block.resource.uri}]")
        else:
            lines.append(f"[{block.type}]")
    structured = _field(result, "structured_content", "structuredContent")
    if not any(b.type == "text" for b in result.content) and structured is not None:
        lines.insert(0, json.dumps(structured))
    text = "\n".join(lines)
    return f"Error: {text}" if _field(result, "is_error", "isError", False) else text


async def call_openai_tool(session: ClientSession, tool_call: Any, names: dict[str, str]) -> dict[str, Any]:
    """Runs an OpenAI tool call on MCP and returns the role=tool message for the model."""
    try:
        name, args = transform_openai_tool_call_request_to_mcp_tool_call_request(tool_call, names)
        text = tool_result_text(await session.call_tool(name, args))
    except ToolArgumentsError as err:  # the model gets the error and can retry
        text = f"Error: {err}"
    return {"role": "tool", "tool_call_id": tool_call.id, "content": text}


async def run_tool_loop(client: AsyncOpenAI, session: ClientSession, model: str, messages: list[Any],
                        tools: list[dict[str, Any]], names: dict[str, str], max_steps: int = 5) -> tuple[str, Any]:
    """Model -> tool calls (in parallel) -> results -> model, until it answers or max_steps."""
    for _ in range(max_steps):
        completion = await client.chat.completions.create(model=model, messages=messages, tools=tools)
        message = completion.choices[0].message
        messages.append(message.model_dump(exclude_none=True))
        if not message.tool_calls:
            return "answer", message.content
        messages.extend(await asyncio.gather(*(call_openai_tool(session, c, names) for c in message.tool_calls)))
    return "max_steps", None


# The gateway runs the caller's MCP tools itself (its scopes, limits and audit apply)
# when a request carries this tool; works for Chat Completions and the Responses API.
GATEWAY_MCP_TOOL: dict[str, Any] = {"type": "mcp", "server_label": "mcpgw", "server_url": "mcpgw", "require_approval": "never"}


async def ask_with_gateway_tools(client: AsyncOpenAI, model: str, question: str) -> Any:
    """One request; the output has mcp_list_tools, an mcp_call per tool run, and the answer."""
    return await client.responses.create(model=model, input=question, tools=[GATEWAY_MCP_TOOL])


async def main() -> None:
    gateway = os.environ.get("MCPGW_URL", "http://localhost:4000").rstrip("/")
    api_key = os.environ.get("MCPGW_API_KEY")
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
    names: dict[str, str] = {}
    async with sse_client(f"{gateway}/mcp/", headers=headers) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            tools = await load_mcp_tools(session, names)
            print("tools:", ", ".join(t["function"]["name"] for t in tools))

            # A tool call as a model sends it: arguments are a JSON string.
            from openai.types.chat import ChatCompletionMessageFunctionToolCall as ToolCall
            call = ToolCall(id="call_1", type="function", function={"name": "demo__add", "arguments": '{"a": 2, "b": 3}'})
            print("as MCP:", transform_openai_tool_call_request_to_mcp_tool_call_request(call, names))
            print("tool message:", await call_openai_tool(session, call, names))

            client = AsyncOpenAI(base_url=os.environ.get("OPENAI_BASE_URL", f"{gateway}/v1"), api_key=api_key or os.environ.get("OPENAI_API_KEY", "unused"))
            try:
                messages: list[Any] = [{"role": "user", "content": "What is 2 + 3? Use the tools."}]
                reason, answer = await run_tool_loop(client, session, os.environ.get("MODEL", "gpt-4o-mini"), messages, tools, names)
                print(f"model ({reason}):", answer)
                response = await ask_with_gateway_tools(client, os.environ.get("MODEL", "gpt-4o-mini"), "What is 2 + 3? Use the tools.")
                for item in response.output:
                    if item.type == "mcp_call":
                        print(f"gateway ran {item.name}({item.arguments}) -> {item.output or item.error}")
                print("model, tools run by the gateway:", response.output_text)
            except APIError as err:
                print(f"the model endpoint failed: {err} (is a model_list configured?)")


if __name__ == "__main__":
    asyncio.run(main())
