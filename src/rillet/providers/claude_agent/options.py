"""Turn a step's `claude_options` (already validated by the workflow schema) into the
SDK's `ClaudeAgentOptions`, and build the environment the Claude CLI runs in.

Every key has an entry in `_MAPPERS`; a key without one is an error, never dropped.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, get_args

from claude_agent_sdk import AgentDefinition, ClaudeAgentOptions
from claude_agent_sdk.types import EffortLevel, PermissionMode, SettingSource

from rillet.errors import ProviderError
from rillet.providers.base import ModelRequest

# Keep the CLI from phoning home (telemetry, update checks, error reports) in every mode.
# Each of these, set in the user's environment, would send the CLI to another cloud
# instead of ANTHROPIC_BASE_URL; a sim run blanks them.
OTHER_BACKENDS = ("CLAUDE_CODE_USE_BEDROCK", "CLAUDE_CODE_USE_VERTEX", "CLAUDE_CODE_USE_FOUNDRY",
                  "CLAUDE_CODE_USE_ANTHROPIC_AWS", "CLAUDE_CODE_USE_ANTHROPIC_GOOGLE_CLOUD",
                  "CLAUDE_CODE_USE_MANTLE", "CLAUDE_CODE_USE_GATEWAY")

QUIET_ENV = {
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "DISABLE_TELEMETRY": "1",
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_ERROR_REPORTING": "1",
}


def cli_env(request: ModelRequest, *, sim_home: str | None, base_url: str | None
            ) -> dict[str, str]:
    """The CLI's environment on top of the inherited one: quiet defaults, then the step's
    own `env`, then (in sim mode) what points the CLI at the simulator, which the step
    cannot override so a sim run never reaches the real API."""
    env = dict(QUIET_ENV)
    own = {str(k): str(v) for k, v in (request.options.get("env") or {}).items()}
    env.update(own)
    compaction = compaction_env(request.options.get("memory_config"))
    for name, value in compaction.items():
        if name in own and own[name] != value:
            raise _invalid(request, "env", f"sets {name}, which memory_config sets too; "
                           f"keep one")
    env.update(compaction)
    if request.mode == "sim":
        url = request.base_url or base_url
        if not url:
            raise ProviderError(f"step '{request.step}' runs in sim mode but no simulator "
                                f"URL was given", kind="invalid_request")
        env.update(dict.fromkeys(OTHER_BACKENDS, ""))
        env.update({
            "ANTHROPIC_BASE_URL": url,
            "ANTHROPIC_API_KEY": "sim",
            "HOME": sim_home or "",
            # The simulator streams SSE; if anything went wrong the CLI would otherwise
            # fall back silently to a non-streaming request and no token would stream.
            "CLAUDE_CODE_DISABLE_NONSTREAMING_FALLBACK": "1",
        })
    return env


def compaction_env(memory: dict[str, Any] | None) -> dict[str, str]:
    """`memory_config` as the Claude CLI's own auto-compaction settings (read from its
    environment): the window compaction works in (CLAUDE_CODE_AUTO_COMPACT_WINDOW), the
    point it compacts at, as a percentage of that window (CLAUDE_AUTOCOMPACT_PCT_OVERRIDE;
    the CLI compacts at that share or at its own point, whichever is earlier), and
    DISABLE_AUTO_COMPACT for auto_compact: false (true clears it and DISABLE_COMPACT)."""
    if not memory:
        return {}
    env: dict[str, str] = {}
    window = memory.get("max_context_length")
    if window:
        env["CLAUDE_CODE_AUTO_COMPACT_WINDOW"] = str(int(window))
    threshold = memory.get("compact_threshold")
    if threshold and window:
        env["CLAUDE_AUTOCOMPACT_PCT_OVERRIDE"] = f"{100 * threshold / window:.4f}"
    if memory.get("auto_compact") is False:
        env["DISABLE_AUTO_COMPACT"] = "1"
    elif memory.get("auto_compact") is True:
        # On, even if the user's environment turned it off (an empty value is unset).
        env["DISABLE_AUTO_COMPACT"] = env["DISABLE_COMPACT"] = ""
    return env


def build_options(request: ModelRequest, *, env: dict[str, str],
                  stderr: Callable[[str], None] | None = None,
                  hook_sink: Callable[[Any], None] | None = None) -> ClaudeAgentOptions:
    kwargs: dict[str, Any] = {}
    options = request.options
    unknown = sorted(set(options) - set(_MAPPERS))
    if unknown:
        raise _invalid(request, unknown[0], "is not an option the Claude Agent SDK knows")
    for key, value in options.items():
        if value is not None:
            kwargs.update(_MAPPERS[key](request, key, value))
    _check_sessions(request, options)
    if options.get("hooks"):
        from rillet.providers.claude_agent.hooks import sdk_hooks

        sink = hook_sink if hook_sink is not None else (lambda event: None)
        kwargs["hooks"] = sdk_hooks(_hook_config(options["hooks"]), step=request.step,
                                    sink=sink)
    if request.model:
        kwargs["model"] = request.model
    prompt = request.system_prompt or options.get("system_prompt")
    append = options.get("append_system_prompt")
    if prompt and append:
        kwargs["system_prompt"] = f"{prompt}\n\n{append}"  # the SDK passes only one flag
    elif prompt:
        kwargs["system_prompt"] = prompt
    elif append:
        kwargs["system_prompt"] = {"type": "preset", "preset": "claude_code", "append": append}
    if "cwd" not in kwargs and request.workspace_dir:
        # The CLI runs in the workspace: made when first used (a `cwd` option must exist).
        Path(request.workspace_dir).mkdir(parents=True, exist_ok=True)
    kwargs.setdefault("cwd", request.workspace_dir)
    extra_args: dict[str, str | None] = {}
    if request.mode == "sim" and request.session_home is None:
        extra_args["no-session-persistence"] = None  # keep the temporary HOME empty
    if request.output_schema is not None:
        # The CLI (--json-schema) gives the model a StructuredOutput tool to call once.
        kwargs["output_format"] = {"type": "json_schema",
                                   "schema": request.output_schema.json_schema}
    return ClaudeAgentOptions(include_partial_messages=True, env=env, extra_args=extra_args,
                              stderr=stderr, **kwargs)


# -- one mapper per key -----------------------------------------------------------------------

Mapper = Callable[[ModelRequest, str, Any], dict[str, Any]]


def _same(request: ModelRequest, key: str, value: Any) -> dict[str, Any]:
    return {key: value}


def _handled_elsewhere(request: ModelRequest, key: str, value: Any) -> dict[str, Any]:
    return {}  # read by build_options or cli_env themselves


def _choice(allowed: tuple[str, ...]) -> Mapper:
    def mapper(request: ModelRequest, key: str, value: Any) -> dict[str, Any]:
        if value not in allowed:
            raise _invalid(request, key, f"must be one of {', '.join(allowed)}, not {value!r}")
        return {key: value}
    return mapper


def _names(request: ModelRequest, key: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _invalid(request, key, "must be a list of names")
    return {key: list(value)}


def _tools(request: ModelRequest, key: str, value: Any) -> dict[str, Any]:
    if value in ("claude_code", "default", {"type": "preset", "preset": "claude_code"}):
        return {"tools": {"type": "preset", "preset": "claude_code"}}
    return _names(request, key, value)


def _cwd(request: ModelRequest, key: str, value: Any) -> dict[str, Any]:
    path = _resolve(request, value)
    if not path.is_dir():
        raise _invalid(request, key, f"{path} is not a directory")
    return {"cwd": str(path)}


def _add_dirs(request: ModelRequest, key: str, value: Any) -> dict[str, Any]:
    return {"add_dirs": [str(_resolve(request, v)) for v in _names(request, key, value)[key]]}


def _mcp_servers(request: ModelRequest, key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        for name, config in value.items():
            if not isinstance(config, dict) or config.get("type") == "sdk":
                raise _invalid(request, f"{key}.{name}", "must be a stdio, sse or http "
                               "server config (in-process 'sdk' servers need Python code)")
        return {key: value}
    if isinstance(value, str):
        return {key: value}  # a config file path or an inline JSON string, as the CLI takes
    raise _invalid(request, key, "must be a mapping of servers or a config path")


def _settings(request: ModelRequest, key: str, value: Any) -> dict[str, Any]:
    return {key: json.dumps(value) if isinstance(value, dict) else str(value)}


def _thinking(request: ModelRequest, key: str, value: Any) -> dict[str, Any]:
    kind = value.get("type") if isinstance(value, dict) else None
    if kind not in ("adaptive", "enabled", "disabled"):
        raise _invalid(request, key, "needs type: adaptive, enabled or disabled")
    if kind == "enabled" and not isinstance(value.get("budget_tokens"), int):
        raise _invalid(request, key, "type 'enabled' needs an integer budget_tokens")
    return {key: dict(value)}


def _setting_sources(request: ModelRequest, key: str, value: Any) -> dict[str, Any]:
    allowed = get_args(SettingSource)
    for source in _names(request, key, value)[key]:
        if source not in allowed:
            raise _invalid(request, key, f"entries must be among {', '.join(allowed)}")
    return {key: list(value)}


def _session(request: ModelRequest, key: str, value: Any) -> dict[str, Any]:
    if request.mode == "sim" and key in ("resume", "continue_conversation") and value \
            and request.session_home is None:
        raise _invalid(request, key, "cannot be honoured in sim mode: the simulator's CLI "
                       "keeps no sessions to resume")
    return {key: value}


def _agents(request: ModelRequest, key: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _invalid(request, key, "must be a mapping of agent name to its definition")
    agents = {}
    for name, spec in value.items():
        if not isinstance(spec, dict) or not spec.get("description") or not spec.get("prompt"):
            raise _invalid(request, f"{key}.{name}", "needs a description and a prompt")
        agents[str(name)] = AgentDefinition(description=spec["description"],
                                            prompt=spec["prompt"], tools=spec.get("tools"),
                                            model=spec.get("model"))
    return {key: agents}


_MAPPERS: dict[str, Mapper] = {
    "max_turns": _same,
    "allowed_tools": _names,
    "disallowed_tools": _names,
    "tools": _tools,
    "system_prompt": _handled_elsewhere,
    "append_system_prompt": _handled_elsewhere,
    "model": _same,  # request.model, when set, wins (build_options)
    "fallback_model": _same,
    "cwd": _cwd,
    "permission_mode": _choice(get_args(PermissionMode)),
    "mcp_servers": _mcp_servers,
    "strict_mcp_config": _same,
    "session_id": _session,
    "resume": _session,
    "fork_session": _session,
    "continue_conversation": _session,
    "add_dirs": _add_dirs,
    "max_budget_usd": _same,
    "max_thinking_tokens": _same,
    "thinking": _thinking,
    "effort": _choice(get_args(EffortLevel)),
    "env": _handled_elsewhere,
    "settings": _settings,
    "setting_sources": _setting_sources,
    "betas": _names,
    "agents": _agents,
    "hooks": _handled_elsewhere,  # needs the stream's event sink (build_options)
    "memory_config": _handled_elsewhere,  # the CLI's environment (cli_env)
}

MAPPED_KEYS = frozenset(_MAPPERS)


def _hook_config(value: Any) -> dict[str, list[dict[str, Any]]]:
    """{event: [{matcher, hooks}]}, without the events nobody set."""
    return {event: rules for event, rules in dict(value).items() if rules}


def _check_sessions(request: ModelRequest, options: dict[str, Any]) -> None:
    # The CLI's own rules, checked here so the error names the option instead of
    # surfacing as a CLI exit code.
    if options.get("resume") and options.get("continue_conversation"):
        raise _invalid(request, "continue_conversation", "cannot be combined with resume")
    resuming = options.get("resume") or options.get("continue_conversation")
    if options.get("session_id") and resuming and not options.get("fork_session"):
        raise _invalid(request, "session_id", "with resume or continue_conversation needs "
                       "fork_session: true")
    if options.get("fork_session") and not resuming:
        raise _invalid(request, "fork_session", "needs resume or continue_conversation")


def _resolve(request: ModelRequest, value: Any) -> Path:
    path = Path(str(value)).expanduser()
    if not path.is_absolute() and request.workspace_dir:
        path = Path(request.workspace_dir) / path
    return path


def _invalid(request: ModelRequest, key: str, problem: str) -> ProviderError:
    return ProviderError(f"step '{request.step}': claude_options.{key} {problem}",
                         kind="invalid_request")
