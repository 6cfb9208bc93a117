"""Errors rillet raises. Each says what happened and, where it can, what to do."""

from __future__ import annotations


class RilletError(Exception):
    """Base class for every error rillet raises on purpose."""


class RunRefused(RilletError):
    """A run that does not start: what it was asked to do is unsafe or cannot be honoured
    (the message says which and what to do instead)."""


class WorkflowError(RilletError):
    """A workflow file is invalid. `problems` holds one line per problem, each naming
    the file, line and key path."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


class StreamConsumedError(RilletError):
    """An AsyncResponse is single pass; it was iterated twice."""


class ProviderError(RilletError):
    """A model provider failed. `kind` is one of: auth, rate_limit, overloaded, budget,
    cli_not_found, network, timeout, malformed, incomplete, invalid_request, api, cancelled,
    function_rounds (a Gemini step went past max_function_rounds)."""

    def __init__(self, message: str, *, kind: str = "api", status: int | None = None,
                 retryable: bool = False):
        self.kind = kind
        self.status = status
        self.retryable = retryable
        super().__init__(message)


class StreamIncompleteError(ProviderError):
    """The stream ended without the provider's final result: never a silently short answer."""

    def __init__(self, message: str = "the stream ended without a final result"):
        super().__init__(message, kind="incomplete")


class StepError(RilletError):
    """A step failed. The text it produced before failing is kept in `partial_text`."""

    def __init__(self, step: str, message: str, *, partial_text: str = "",
                 cause: BaseException | None = None, cancelled: bool = False):
        self.step = step
        self.partial_text = partial_text
        self.cause = cause
        self.cancelled = cancelled
        super().__init__(f"step '{step}': {message}")
