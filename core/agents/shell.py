"""The `shell` agent: runs the task body as a command in the worktree.

For scripted jobs and for trying orch without any API key. The body is the user's own command, so it is
written to a file and run by `sh`; nothing else the user typed (the title, options) reaches a shell.
A script may write {"summary": ..., "delegations": [{"title", "body", "labels"}]} to $ORCH_RESULT_FILE.
"""

from __future__ import annotations

import json

from orch.core.agents.base import AgentAdapter, AgentResult, AttemptContext, Launch
from orch.core.home import write_private
from orch.core.tasks.models import Delegation


class ShellAgent(AgentAdapter):
    name = "shell"
    default_command = "sh"
    reads_terminal = True

    def build_launch(self, ctx: AttemptContext) -> Launch:
        script = ctx.attempt_dir / "command.sh"
        write_private(script, ctx.task.body + "\n")
        return Launch(argv=[self.executable(ctx.agent_config), *ctx.agent_config.args, str(script)],
                      env=dict(ctx.agent_config.env))

    def parse_result(self, ctx: AttemptContext, exit_code: int, output: str) -> AgentResult:
        if exit_code != 0:
            return AgentResult(status="failed", error_kind="exit_code", error=f"exit code {exit_code}")
        summary = ""
        delegations: tuple[Delegation, ...] = ()
        if ctx.result_file.exists():
            try:
                data = json.loads(ctx.result_file.read_text(encoding="utf-8"))
                summary = str(data.get("summary", ""))
                delegations = tuple(
                    Delegation(title=str(item["title"]), body=str(item.get("body", "")),
                               labels=tuple(str(label) for label in item.get("labels", ())))
                    for item in data.get("delegations", ())
                )
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                return AgentResult(status="failed", error_kind="unparseable",
                                   error=f"$ORCH_RESULT_FILE is not valid result JSON: {exc}")
        if not summary:
            lines = [line for line in output.splitlines() if line.strip()]
            summary = lines[-1] if lines else ""
        if delegations:
            return AgentResult(status="blocked", summary=summary, delegations=delegations)
        return AgentResult(status="done", summary=summary)
