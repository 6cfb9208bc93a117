"""Named Claude conversations kept under the workspace, so later steps and later runs can
continue them (claude_session steps, `claude_continue` and `session_context` prompt parts).

`<workspace>/.rillet/sessions/<name>.json` holds the Agent SDK's session id (what the CLI
resumes) and the turns so far (prompt and answer, for `session_context`). In sim mode the
CLI's own transcripts live beside it (`.rillet/claude-home`): the throwaway HOME of a sim
run would lose them, and without them there is nothing to resume.
"""

from __future__ import annotations

import json
import os
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rillet.errors import RilletError

_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


class SessionError(RilletError):
    pass


class SessionStore:
    def __init__(self, workspace_dir: Path):
        self.root = Path(workspace_dir) / ".rillet"
        self.folder = self.root / "sessions"

    @property
    def sim_home(self) -> str:
        home = self.root / "claude-home"
        home.mkdir(parents=True, exist_ok=True)
        return str(home)

    def load(self, name: str) -> dict[str, Any] | None:
        path = self._path(name)
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise SessionError(f"session '{name}' ({path}) cannot be read: {exc}") from None

    def record(self, name: str, *, session_id: str | None, step: str, run_id: str,
               prompt: str, text: str, description: str | None = None) -> dict[str, Any]:
        """Add a turn to the session (started if new) and save it at once."""
        session = self.load(name) or {"name": name, "description": description,
                                      "session_id": None, "turns": []}
        session["session_id"] = session_id or session["session_id"]
        session["run_id"] = run_id
        session["turns"].append({"step": step, "run_id": run_id, "prompt": prompt,
                                 "text": text,
                                 "at": datetime.now(timezone.utc).isoformat(timespec="seconds")})
        path = self._path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(session, indent=2, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)
        return session

    def reset(self, name: str) -> None:
        """Forget a session's turns: a conversation started afresh."""
        self._path(name).unlink(missing_ok=True)

    def _path(self, name: str) -> Path:
        if not _NAME.fullmatch(name):
            raise SessionError(f"session name '{name}' may hold only letters, digits, '_', "
                               f"'-' and '.'")
        return self.folder / f"{name}.json"


def context_text(session: dict[str, Any] | None, name: str, last: int) -> str:
    """The last `last` turns of a session, as text for a prompt."""
    turns = (session or {}).get("turns") or []
    if not turns:
        raise SessionError(f"session '{name}' has no turns yet (no claude_session step named "
                           f"it has run)")
    lines = [f"Earlier in the conversation '{name}':"]
    for turn in turns[-last:]:
        lines += [f"User: {turn['prompt']}", f"Assistant: {turn['text']}"]
    return "\n\n".join(lines)
