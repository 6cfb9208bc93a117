"""What code a workflow makes rillet run, so that `--no-code` can refuse it.

Running a workflow runs the code it names, as `make` runs a Makefile: handler classes,
callback functions and Gemini function implementations (imported by dotted path), the
Claude CLI's hooks and other commands in `settings` or in settings files
(`setting_sources`), MCP servers (started as programs),
the CLI's environment (`env`, e.g. NODE_OPTIONS), and shell commands the model may run
without asking (`allowed_tools: [Bash]`, `permission_mode: bypassPermissions`).
Validating runs none of it. `code_it_runs` lists each such key with where it is, and
`read_paths`, which lets prompts read files outside the workflow's folder.
"""

from __future__ import annotations

from typing import Any

from rillet.errors import RunRefused

_CODE_OPTIONS = {
    "mcp_servers": "starts MCP server programs",
    "settings": "Claude CLI settings may hold hooks (shell commands)",
    "setting_sources": "settings files may hold hooks (shell commands)",
    "env": "sets the Claude CLI's environment (e.g. NODE_OPTIONS runs code)",
}


class CodeRefused(RunRefused):
    """`--no-code`: the workflow names code to run."""


def code_it_runs(workflow: Any) -> list[str]:
    """One line per key of `workflow` that makes rillet run code, e.g.
    `steps[0].stream_handler: 'my_hooks:Tally' (a handler class)`."""
    data = workflow.model_dump(exclude_defaults=True) if hasattr(workflow, "model_dump") \
        else dict(workflow)
    found: list[str] = []
    if data.get("read_paths"):
        found.append(f"read_paths: {data['read_paths']} (prompts read files outside the "
                     f"workflow's folder)")
    _walk(data, "", found)
    return found


def refuse_code(workflow: Any) -> None:
    """Raise CodeRefused naming every code-bearing key, if there is one."""
    found = code_it_runs(workflow)
    if found:
        raise CodeRefused(
            "--no-code: this workflow names code that running it would run, so it is not "
            "run: " + "; ".join(found) + ". Run it without --no-code only if you trust it.")


def _walk(value: Any, where: str, found: list[str]) -> None:
    if isinstance(value, list):
        for index, item in enumerate(value):
            _walk(item, f"{where}[{index}]", found)
        return
    if not isinstance(value, dict):
        return
    label = f"{where}({value['name']})" if isinstance(value.get("name"), str) and where else where
    for key, item in value.items():
        path = f"{label}.{key}" if label else key
        if key == "stream_handler":
            for name in item if isinstance(item, list) else [item] if item else []:
                if name == "callback":
                    found.append(f"{path}: 'callback' (calls a function named by path)")
                elif isinstance(name, str) and ("." in name or ":" in name):
                    found.append(f"{path}: '{name}' (a handler class)")
        elif key == "claude_options" and isinstance(item, dict):
            _claude_options(item, path, found)
        elif key == "gemini_functions" and isinstance(item, dict):
            for name, function in item.items():
                code = function.get("implementation") if isinstance(function, dict) else None
                if code:
                    found.append(f"{path}.{name}.implementation: '{code}' (a function the "
                                 f"model's calls run)")
        else:
            _walk(item, path, found)


def _claude_options(options: dict[str, Any], path: str, found: list[str]) -> None:
    for key, why in _CODE_OPTIONS.items():
        if options.get(key):
            found.append(f"{path}.{key} ({why})")
    if options.get("permission_mode") == "bypassPermissions":
        found.append(f"{path}.permission_mode: bypassPermissions (the model runs any tool, "
                     f"shell commands included, without asking)")
    for tool in options.get("allowed_tools") or ():
        if isinstance(tool, str) and tool.split("(")[0] == "Bash":
            found.append(f"{path}.allowed_tools: '{tool}' (the model runs shell commands "
                         f"without asking)")
