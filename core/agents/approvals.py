"""Tool approvals for claude, asked in the chat: a small MCP server claude starts for an attempt.

    python -m orch.core.agents.approvals --task ID --timeout SECONDS

With `agents.claude.permissions: ask`, claude runs with `--permission-prompt-tool mcp__orch__approve` and this
server (stdio, JSON-RPC 2.0, one message a line). For each tool call claude would need permission for, the server
stores an approval question (orch serve shows it in every chat following the task with Allow, Allow for this
task, Deny), waits for a person's decision in the store, and answers claude
`{"behavior": "allow", "updatedInput": …}` or `{"behavior": "deny", "message": …}`. No decision within the
timeout is a denial. "Allow for this task" allows that tool for the rest of the task without asking again.
The store is found from ORCH_HOME (and ORCH_STORE_URL) in its environment, which claude passes on.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from orch.core.agents.decoding import describe_tool
from orch.core.home import OrchHome

if TYPE_CHECKING:  # the claude adapter imports this module for PROMPT_TOOL; the server's own needs come later
    from orch.core.tasks.conversation import Conversation

SERVER = "orch"
TOOL = "approve"
PROMPT_TOOL = f"mcp__{SERVER}__{TOOL}"  # what claude's --permission-prompt-tool names
PROTOCOL_VERSION = "2025-03-26"

_TOOL_SPEC = {
    "name": TOOL,
    "description": "Ask the people following this orch task whether the agent may use a tool.",
    "inputSchema": {
        "type": "object",
        "properties": {"tool_name": {"type": "string"}, "input": {"type": "object"},
                       "tool_use_id": {"type": "string"}},
        "required": ["tool_name", "input"],
    },
}


async def answer(message: dict[str, Any], conversation: Conversation, task_id: int,
                 timeout: float) -> dict[str, Any] | None:
    """The JSON-RPC response to one message (None for a notification)."""
    if "id" not in message:
        return None
    method = message.get("method")
    params = message.get("params") or {}
    if method == "initialize":
        result: dict[str, Any] = {
            "protocolVersion": params.get("protocolVersion", PROTOCOL_VERSION),
            "capabilities": {"tools": {}}, "serverInfo": {"name": SERVER, "version": "1"}}
    elif method == "tools/list":
        result = {"tools": [_TOOL_SPEC]}
    elif method == "tools/call" and params.get("name") == TOOL:
        arguments = params.get("arguments") or {}
        tool = str(arguments.get("tool_name", "?"))
        given = arguments.get("input")
        tool_input: dict[str, Any] = given if isinstance(given, dict) else {}
        allowed, why = await conversation.ask_approval(task_id, tool, tool_input,
                                                       f"claude wants to use {tool}: {describe_tool(tool, tool_input)}",
                                                       timeout)
        decision = {"behavior": "allow", "updatedInput": tool_input} if allowed else {"behavior": "deny",
                                                                                        "message": why}
        result = {"content": [{"type": "text", "text": json.dumps(decision)}]}
    elif method == "ping":
        result = {}
    else:
        return {"jsonrpc": "2.0", "id": message["id"],
                "error": {"code": -32601, "message": f"method not found: {method}"}}
    return {"jsonrpc": "2.0", "id": message["id"], "result": result}


async def serve(task_id: int, timeout: float) -> None:
    from orch.core.services import Services

    services = await Services.open(OrchHome.from_env())
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 24)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    try:
        while line := await reader.readline():
            try:
                message = json.loads(line)
            except ValueError:
                continue
            response = await answer(message, services.conversation, task_id, timeout) \
                if isinstance(message, dict) else None
            if response is not None:
                sys.stdout.write(json.dumps(response) + "\n")
                sys.stdout.flush()
    finally:
        await services.close()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m orch.core.agents.approvals",
                                     description="orch's tool-approval MCP server for one task (claude starts it).")
    parser.add_argument("--task", type=int, required=True, help="the task whose tool calls are asked about")
    parser.add_argument("--timeout", type=float, required=True, help="seconds to wait for a decision")
    args = parser.parse_args(argv)
    asyncio.run(serve(args.task, args.timeout))


if __name__ == "__main__":
    main()
