"""Step types. Model steps build a ModelRequest; plain steps compute their result directly."""

from rillet.steps import (
    claude, claude_extract, claude_robust, claude_session, claude_smart, gemini, set_variable,
)

MODEL_STEPS = {"claude": claude, "claude_extract": claude_extract,
               "claude_robust": claude_robust, "claude_session": claude_session,
               "claude_smart": claude_smart, "gemini": gemini, "gemini_instructor": gemini}
PLAIN_STEPS = {"set_variable": set_variable}
