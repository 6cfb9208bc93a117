"""Step types. Model steps build a ModelRequest; plain steps compute their result directly."""

from rillet.steps import claude, gemini, set_variable

MODEL_STEPS = {"claude": claude, "gemini": gemini}
PLAIN_STEPS = {"set_variable": set_variable}
