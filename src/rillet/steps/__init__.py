"""Step types. Model steps build a ModelRequest; plain steps compute their result directly."""

from rillet.steps import claude, data_transform, echo, file_ops, gemini, set_variable

MODEL_STEPS = {"claude": claude, "gemini": gemini}
PLAIN_STEPS = {"set_variable": set_variable, "echo": echo, "test_echo": echo,
               "data_transform": data_transform, "file_ops": file_ops}
