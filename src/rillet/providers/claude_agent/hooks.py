"""rillet's built-in tool hooks (`hooks:` / `claude_options.hooks`), as Claude Agent SDK
hook callbacks.

pipeline_ex named three hooks of its own (lib/pipeline/providers/enhanced_claude_provider.ex);
each is one function here:

- `validate_bash` (PreToolUse): refuses a Bash command that holds a dangerous pattern
  (`rm -rf` and other recursive rm, `sudo`, `chmod 777`), with the reason, which the model
  gets as the tool's error. Any other command gets no opinion: whether it runs is left to
  `permission_mode` and `allowed_tools` (pipeline_ex answered "allow", which skipped the
  permission check; rillet does not widen what a step may do).
- `log_tool_use`: a log record (logger `rillet.hooks`) and a `ToolHook` event per call.
- `audit_tool`: the same, with the time and the tool's whole input (the audit entry
  pipeline_ex logged as JSON).

Each callback reports what it did as a `ToolHook` event to the step's stream. The mock
provider calls `run_hook` directly, so a mock run reports the same events and refuses the
same commands.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from rillet.events import ToolHook

HOOK_NAMES = ("validate_bash", "log_tool_use", "audit_tool")
HOOK_EVENTS = ("PreToolUse", "PostToolUse")
# Only a PreToolUse hook can stop a call: after it, the command has run.
PRE_ONLY = frozenset({"validate_bash"})

log = logging.getLogger("rillet.hooks")

# pipeline_ex's patterns (rm -rf, sudo, chmod 777), written so that `rm -fr`, `rm -r -f`
# and `rm --recursive` are caught too.
DANGEROUS_COMMANDS = (
    ("rm -rf", re.compile(r"\brm\s+(?:[^;&|\n]*\s)?(?:-[a-zA-Z]*[rR][a-zA-Z]*|--recursive)\b")),
    ("sudo", re.compile(r"\bsudo\b")),
    ("chmod 777", re.compile(r"\bchmod\s+(?:-\S+\s+)*0?777\b")),
)

Sink = Callable[[ToolHook], None]


@dataclass(frozen=True, slots=True)
class HookOutcome:
    """What a hook decided: `deny` with its reason, or no opinion (None)."""

    deny: str | None = None


def normalize_name(name: str) -> str:
    """pipeline_ex took `validate-bash` and any case too."""
    return name.strip().lower().replace("-", "_")


def dangerous_pattern(command: str) -> str | None:
    for label, pattern in DANGEROUS_COMMANDS:
        if pattern.search(command):
            return label
    return None


def run_hook(name: str, event: str, data: dict[str, Any], *, step: str,
             sink: Sink) -> HookOutcome:
    """Run one built-in hook on a tool call (`data` is the SDK's hook input: tool_name,
    tool_input, tool_use_id, ...), report it to `sink`, and say what it decided."""
    tool = str(data.get("tool_name") or "unknown")
    tool_use_id = str(data.get("tool_use_id") or "")
    tool_input = data.get("tool_input") if isinstance(data.get("tool_input"), dict) else {}
    if name == "validate_bash":
        command = str(tool_input.get("command") or "") if tool == "Bash" else ""
        found = dangerous_pattern(command)
        if found is None:
            sink(ToolHook(step, name, event, tool, tool_use_id, decision="no_objection"))
            return HookOutcome()
        reason = f"blocked by validate_bash: the command contains a dangerous pattern " \
                 f"({found})"
        log.warning("step %s: blocked %s: %s", step, tool, command)
        sink(ToolHook(step, name, event, tool, tool_use_id, decision="deny", reason=reason,
                      input=dict(tool_input)))
        return HookOutcome(deny=reason)
    if name == "log_tool_use":
        log.info("step %s: %s %s (%s)", step, event, tool, tool_use_id)
        sink(ToolHook(step, name, event, tool, tool_use_id))
        return HookOutcome()
    if name == "audit_tool":
        at = datetime.now(timezone.utc).isoformat()
        log.info("step %s: audit %s %s (%s) at %s: %s", step, event, tool, tool_use_id, at,
                 tool_input)
        sink(ToolHook(step, name, event, tool, tool_use_id, input=dict(tool_input), at=at))
        return HookOutcome()
    raise ValueError(f"unknown hook {name!r}")  # the schema lets none through


def hook_output(event: str, outcome: HookOutcome) -> dict[str, Any]:
    """The SDK's hook answer: {} is no opinion; a deny stops the call with the reason."""
    if outcome.deny is None:
        return {}
    return {"hookSpecificOutput": {"hookEventName": event, "permissionDecision": "deny",
                                   "permissionDecisionReason": outcome.deny}}


def sdk_hooks(config: dict[str, list[dict[str, Any]]], *, step: str,
              sink: Sink) -> dict[str, list[Any]]:
    """`claude_options.hooks` ({event: [{matcher, hooks: [names]}]}) as
    ClaudeAgentOptions.hooks ({event: [HookMatcher]})."""
    from claude_agent_sdk import HookMatcher

    built: dict[str, list[Any]] = {}
    for event, rules in config.items():
        matchers = []
        for rule in rules:
            matcher = rule.get("matcher")
            callbacks = [_callback(name, event, step, sink) for name in rule["hooks"]]
            # "*" (pipeline_ex's "all tools") is the CLI's match-all, as is no matcher.
            matchers.append(HookMatcher(matcher=None if matcher in (None, "", "*")
                                        else matcher, hooks=callbacks))
        built[event] = matchers
    return built


def _callback(name: str, event: str, step: str,
              sink: Sink) -> Callable[..., Awaitable[dict[str, Any]]]:
    async def hook(data: dict[str, Any], tool_use_id: str | None,
                   context: Any) -> dict[str, Any]:
        if tool_use_id and not data.get("tool_use_id"):
            data = {**data, "tool_use_id": tool_use_id}
        return hook_output(event, run_hook(name, event, data, step=step, sink=sink))

    hook.__name__ = name
    return hook


def matches(matcher: str | None, tool: str) -> bool:
    """The CLI's rule for a tool hook's matcher: none or "*" matches every tool; otherwise
    a tool name or a regular expression over names ("Write|Edit")."""
    if matcher in (None, "", "*"):
        return True
    if re.fullmatch(r"[\w|]+", matcher):
        return tool in matcher.split("|")
    try:
        return re.fullmatch(matcher, tool) is not None
    except re.error:
        return False


def run_matching(config: dict[str, list[dict[str, Any]]], event: str, data: dict[str, Any],
                 *, step: str, sink: Sink) -> HookOutcome:
    """Every hook `config` sets for `event` on this tool, in order, as the CLI runs them
    (for the mock provider, which has no CLI): a deny from any of them stops the call."""
    tool = str(data.get("tool_name") or "")
    denied: str | None = None
    for rule in config.get(event) or ():
        if matches(rule.get("matcher"), tool):
            for name in rule["hooks"]:
                outcome = run_hook(name, event, data, step=step, sink=sink)
                denied = denied or outcome.deny
    return HookOutcome(deny=denied)


def denied_result(event: str, tool: str, reason: str) -> str:
    """The tool result the CLI gives the model for a call a hook denied (recorded with
    the bundled CLI)."""
    return f"{event}:{tool} hook error: {reason}"
