"""The built-in hooks (claude_options.hooks): what each decides and reports, and how they
become the Agent SDK's HookMatchers. (End to end with the CLI:
tests/integration/test_claude_agent_hooks.py.)"""

from __future__ import annotations

import asyncio
import logging

import pytest
from claude_agent_sdk import HookMatcher

from rillet.events import ToolHook
from rillet.providers.claude_agent.hooks import (
    dangerous_pattern, matches, run_hook, run_matching, sdk_hooks,
)


@pytest.mark.parametrize(("command", "found"), [
    ("rm -rf /tmp/test", "rm -rf"), ("rm -fr build", "rm -rf"), ("rm -r -f x", "rm -rf"),
    ("rm --recursive x", "rm -rf"), ("ls && rm -Rf /", "rm -rf"), ("sudo apt install x", "sudo"),
    ("chmod 777 run.sh", "chmod 777"), ("chmod -R 0777 .", "chmod 777"),
    ("rm notes.txt", None), ("rm -f notes.txt", None), ("grep -r TODO .", None),
    ("rmdir empty", None), ("chmod 755 run.sh", None), ("echo sudoku", None), ("ls -la", None),
])
def test_validate_bash_knows_the_dangerous_patterns(command, found):
    assert dangerous_pattern(command) == found


def call(tool: str, **tool_input):
    return {"hook_event_name": "PreToolUse", "tool_name": tool, "tool_input": tool_input,
            "tool_use_id": "toolu_1"}


def test_validate_bash_denies_with_the_reason_and_reports_it(caplog):
    seen: list[ToolHook] = []
    with caplog.at_level(logging.WARNING, logger="rillet.hooks"):
        outcome = run_hook("validate_bash", "PreToolUse", call("Bash", command="rm -rf /"),
                           step="s", sink=seen.append)
    assert outcome.deny == ("blocked by validate_bash: the command contains a dangerous "
                            "pattern (rm -rf)")
    assert seen == [ToolHook("s", "validate_bash", "PreToolUse", "Bash", "toolu_1",
                             decision="deny", reason=outcome.deny, input={"command": "rm -rf /"})]
    assert "blocked Bash: rm -rf /" in caplog.text


def test_validate_bash_has_no_opinion_on_a_safe_command_or_another_tool():
    seen: list[ToolHook] = []
    for data in (call("Bash", command="ls"), call("Write", command="rm -rf /")):
        assert run_hook("validate_bash", "PreToolUse", data, step="s", sink=seen.append).deny \
            is None
    assert [e.decision for e in seen] == ["no_objection", "no_objection"]


def test_the_logging_hooks_report_every_call(caplog):
    seen: list[ToolHook] = []
    with caplog.at_level(logging.INFO, logger="rillet.hooks"):
        run_hook("log_tool_use", "PostToolUse", call("Read", file_path="a"), step="s",
                 sink=seen.append)
        run_hook("audit_tool", "PreToolUse", call("Read", file_path="a"), step="s",
                 sink=seen.append)
    log_entry, audit = seen
    assert (log_entry.hook, log_entry.hook_event, log_entry.input) == (
        "log_tool_use", "PostToolUse", None)
    assert audit.input == {"file_path": "a"} and audit.at.endswith("+00:00")
    assert "PostToolUse Read (toolu_1)" in caplog.text and "audit PreToolUse Read" in caplog.text


@pytest.mark.parametrize(("matcher", "tool", "hit"), [
    (None, "Bash", True), ("*", "Read", True), ("Bash", "Bash", True), ("Bash", "Read", False),
    ("Write|Edit", "Edit", True), ("Write|Edit", "Bash", False),
    ("Notebook.*", "NotebookEdit", True),
])
def test_matchers_follow_the_cli(matcher, tool, hit):
    assert matches(matcher, tool) is hit


def test_sdk_hooks_are_hook_matchers_whose_callbacks_answer_as_the_sdk_expects():
    seen: list[ToolHook] = []
    config = {"PreToolUse": [{"matcher": "Bash", "hooks": ["validate_bash", "log_tool_use"]},
                             {"matcher": "*", "hooks": ["audit_tool"]}]}
    built = sdk_hooks(config, step="s", sink=seen.append)
    bash, every = built["PreToolUse"]
    assert isinstance(bash, HookMatcher) and bash.matcher == "Bash" and every.matcher is None
    validate, log_it = bash.hooks
    data = {"hook_event_name": "PreToolUse", "tool_name": "Bash",
            "tool_input": {"command": "sudo rm x"}}
    answer = asyncio.run(validate(data, "toolu_9", {"signal": None}))
    assert answer == {"hookSpecificOutput": {
        "hookEventName": "PreToolUse", "permissionDecision": "deny",
        "permissionDecisionReason": "blocked by validate_bash: the command contains a "
                                    "dangerous pattern (sudo)"}}
    assert asyncio.run(log_it(data, "toolu_9", {"signal": None})) == {}
    assert [(e.hook, e.tool_use_id) for e in seen] == [("validate_bash", "toolu_9"),
                                                         ("log_tool_use", "toolu_9")]


def test_run_matching_runs_every_matching_rule_and_any_deny_stops_the_call():
    seen: list[ToolHook] = []
    config = {"PreToolUse": [{"matcher": "Bash", "hooks": ["validate_bash"]},
                             {"matcher": "Read", "hooks": ["log_tool_use"]},
                             {"hooks": ["audit_tool"]}]}
    outcome = run_matching(config, "PreToolUse", call("Bash", command="chmod 777 x"),
                           step="s", sink=seen.append)
    assert outcome.deny and [e.hook for e in seen] == ["validate_bash", "audit_tool"]
    assert run_matching(config, "PostToolUse", call("Bash"), step="s",
                        sink=seen.append).deny is None
