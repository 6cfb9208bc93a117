"""A claude_session step with `conversation:` turns: each turn is a claude_session turn of
its own, sent one after another in the step's session, so each later turn resumes the
conversation the earlier ones built (rillet.steps.claude_session).

Turn i streams under the path NAME[i] and keeps its own result there (a list, in the
turns' order), as claude_batch's tasks do; the step's text is the turns' texts as one JSON
list. A failed turn ends the conversation: the turns after it would answer a conversation
that is missing one.
"""

from __future__ import annotations

from typing import Any

CHILDREN = list


def turn_steps(step: Any) -> list[Any]:
    """One single-turn claude_session step per turn: the step's options with the turn's
    prompt and, over them, the turn's own options."""
    turns = []
    for turn in step.conversation:
        options = step.claude_options.model_copy(
            update=turn.claude_options.model_dump(exclude_unset=True))
        update: dict[str, Any] = {"prompt": turn.prompt, "conversation": None,
                                  "claude_options": options}
        for key in ("verbose", "output_format", "mock"):
            if getattr(turn, key) is not None:
                update[key] = getattr(turn, key)
        turns.append(step.model_copy(update=update))
    return turns


async def run(step: Any, scope: Any, walker: Any, children: list[Any]) -> str:
    import json

    turns = turn_steps(step)
    children.extend([None] * len(turns))
    for index, turn in enumerate(turns):
        inner = scope.iteration(index, scope.loop or {})  # path NAME[i]
        await walker.run_node(turn, inner, (children, index))
    return json.dumps([r.text if r else "" for r in children], ensure_ascii=False)
