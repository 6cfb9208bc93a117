"""Step types. Model steps build a ModelRequest; plain steps compute their result directly;
container steps say which children run in which scopes and call back into the walker."""

from rillet.steps import (
    claude, claude_batch, claude_conversation, claude_extract, claude_robust, claude_session, claude_smart,
    data_transform, echo, file_ops, for_loop, gemini, parallel, pipeline, set_variable, switch,
    while_loop,
)

MODEL_STEPS = {"claude": claude, "claude_extract": claude_extract,
               "claude_robust": claude_robust, "claude_session": claude_session,
               "claude_smart": claude_smart, "gemini": gemini, "gemini_instructor": gemini}
PLAIN_STEPS = {"set_variable": set_variable, "echo": echo, "test_echo": echo,
               "data_transform": data_transform, "file_ops": file_ops}
CONTAINER_STEPS = {"parallel": parallel, "parallel_claude": parallel, "for_loop": for_loop,
                   "while_loop": while_loop, "switch": switch, "pipeline": pipeline,
                   "claude_batch": claude_batch}


def container_of(step: object) -> object | None:
    """The container module that runs `step`, if it runs children: a claude_session step
    with `conversation:` turns runs each turn as a child."""
    if getattr(step, "type", None) == "claude_session" and \
            getattr(step, "conversation", None) is not None:
        return claude_conversation
    return CONTAINER_STEPS.get(getattr(step, "type", None))  # type: ignore[arg-type]
