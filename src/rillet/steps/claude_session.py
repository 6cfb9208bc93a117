"""`type: claude_session`: one turn of a named conversation, and how later steps continue it.

The session's name is `session_config.session_name` (default: the step's name). The first
turn starts a Claude Agent SDK session; every later turn resumes it (`resume` with the
saved session id; `fork: true` resumes a copy, the Agent SDK's `fork_session`, and leaves
the saved conversation as it was: the copy's turns are not saved). With
`persist: true` later runs continue it too; otherwise each run starts it afresh. Each turn
is saved at once under the workspace (rillet.sessions), which is also where a
`claude_continue` prompt part in any claude step, and `session_context`, find it. Its
options start from a preset like claude_smart's (`analysis` unless one is named).
"""

from __future__ import annotations

from typing import Any

from rillet.engine.context import RunContext
from rillet.errors import RilletError
from rillet.providers.base import ModelRequest
from rillet.result import StepResult
from rillet.sessions import SessionStore
from rillet.steps import claude

provider_kind = claude.provider_kind


def session_name(step: Any) -> str:
    return step.session_config.session_name or step.name


def build_request(step: Any, ctx: RunContext, mode: str) -> ModelRequest:
    request = claude.build_request(step, ctx, mode)
    store = SessionStore(ctx.workspace_dir)
    config = step.session_config
    saved = store.load(session_name(step))
    fresh = saved is None or not saved.get("session_id") or (
        not config.persist and saved.get("run_id") != ctx.run_id)
    limit = config.max_session_turns
    if limit is not None and not fresh and len(saved.get("turns") or []) >= limit:  # type: ignore[union-attr]
        raise RilletError(f"session '{session_name(step)}' already has {limit} turns, its "
                          f"session_config.max_session_turns")
    if not fresh and "resume" not in request.options:
        request.options["resume"] = saved["session_id"]  # type: ignore[index]
        if config.fork:
            request.options["fork_session"] = True
    if mode == "sim":
        request.session_home = store.sim_home
    return request


def continue_session(request: ModelRequest, name: str, ctx: RunContext) -> None:
    """Make a claude step's request resume the session `name` (a claude_continue part)."""
    store = SessionStore(ctx.workspace_dir)
    saved = store.load(name)
    if saved is None or not saved.get("session_id"):
        raise RilletError(f"claude_continue: session '{name}' has not started (no "
                          f"claude_session step named it has run)")
    request.options.setdefault("resume", saved["session_id"])
    if request.mode == "sim":
        request.session_home = store.sim_home


def finish_result(step: Any, result: StepResult, ctx: RunContext,
                  request: ModelRequest) -> StepResult:
    """Save the turn (and the session id the Agent SDK gave it) before the next step."""
    config = step.session_config
    fresh = "resume" not in request.options
    if config.fork and not fresh:
        return result  # the turn belongs to the copy; the saved conversation stays as it was
    store = SessionStore(ctx.workspace_dir)
    if fresh and store.load(session_name(step)) is not None:
        store.reset(session_name(step))
    store.record(session_name(step), session_id=result.session_id, step=step.name,
                 run_id=ctx.run_id, prompt=request.prompt, text=result.text,
                 description=config.description)
    return result
