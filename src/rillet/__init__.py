"""rillet: run AI workflows written in YAML and stream every token, live.

    import rillet
    result = rillet.run("flow.yaml", mode="mock")
    print(result["summarise"].text)

Names are imported on first use so `import rillet` stays fast and the simulator and
providers can be used on their own.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "batch": "rillet.batching.scheduler",
    "run": "rillet.api", "run_async": "rillet.api", "stream": "rillet.api",
    "RunOptions": "rillet.engine.executor", "RunResult": "rillet.engine.executor",
    "ProviderError": "rillet.errors", "RilletError": "rillet.errors",
    "StepError": "rillet.errors", "WorkflowError": "rillet.errors",
    "StepResult": "rillet.result",
    "BaseHandler": "rillet.streaming.handler", "register_handler": "rillet.streaming.handler",
    "AsyncResponse": "rillet.streaming.response",
    "load_workflow": "rillet.workflow.loader",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'rillet' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
