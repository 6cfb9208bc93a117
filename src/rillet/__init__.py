"""rillet: run AI workflows written in YAML and stream every token, live.

    import rillet
    result = rillet.run("flow.yaml", mode="mock")
    print(result["summarise"].text)

    async for event in rillet.stream("flow.yaml"):
        ...
"""

from rillet.api import run, run_async, stream
from rillet.engine.executor import RunOptions, RunResult
from rillet.errors import ProviderError, RilletError, StepError, WorkflowError
from rillet.result import StepResult
from rillet.streaming.handler import BaseHandler, register_handler
from rillet.streaming.response import AsyncResponse
from rillet.workflow.loader import load_workflow

__version__ = "0.1.0"

__all__ = [
    "AsyncResponse", "BaseHandler", "ProviderError", "RilletError", "RunOptions", "RunResult",
    "StepError", "StepResult", "WorkflowError", "__version__", "load_workflow",
    "register_handler", "run", "run_async", "stream",
]
