"""The tree walker: the one place that decides whether a step runs and keeps what it did.

For every node it checks resume (a finished path is not run again), the condition, and
records the result (steps.jsonl, checkpoint by path, the run's cost). A failed or cancelled
node leaves its partial result where its result would have gone, so a container that fails
still holds the text of every child. Container step modules (rillet.steps.parallel, ...)
only say which children run in which scopes, through `run_steps` and `run_concurrently`.
"""

from __future__ import annotations

import asyncio
import json
import os
from itertools import islice
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any

from rillet.engine.scope import Scope
from rillet.errors import RilletError, StepError
from rillet.events import StepCompleted, StepFailed, StepSkipped, StepStarted
from rillet.result import StepResult
from rillet.workflow.conditions import evaluate

DEFAULT_MAX_PARALLEL = 5  # pipeline_ex's default for parallel loops
CLI_PROCESS_MB = 190  # one Claude CLI process, measured

Slot = tuple[Any, Any]  # (dict or list, key): where a node's result (or partial) goes


def default_claude_processes() -> int:
    """How many Claude CLI processes may run at once: $RILLET_MAX_CLAUDE_PROCESSES, else
    what a quarter of the available memory holds, between 2 and 8."""
    given = os.environ.get("RILLET_MAX_CLAUDE_PROCESSES", "").strip()
    if given.isdigit() and int(given) > 0:
        return int(given)
    try:
        with open("/proc/meminfo", encoding="ascii") as file:
            info = dict(line.split(":", 1) for line in file)
        available_mb = int(info["MemAvailable"].split()[0]) // 1024
    except (OSError, KeyError, ValueError):
        return 4
    return max(2, min(8, available_mb // 4 // CLI_PROCESS_MB))


class ProcessLimiter:
    """The run-wide cap on Claude CLI processes. Only leaf claude_agent steps take it (a
    container never does), so nested containers cannot deadlock on it."""

    def __init__(self, limit: int):
        self.limit = limit
        self._free = asyncio.Semaphore(limit)
        self.in_use = 0
        self.peak = 0

    async def __aenter__(self) -> None:
        await self._free.acquire()
        self.in_use += 1
        self.peak = max(self.peak, self.in_use)

    async def __aexit__(self, *_: Any) -> None:
        self.in_use -= 1
        self._free.release()


class BudgetExceeded(RilletError):
    pass


class Budget:
    """`max_cost_usd` across concurrent steps: what finished steps cost plus what each
    running step has cost so far (its latest Usage)."""

    def __init__(self, limit: float | None, run: Any):
        self.limit = limit
        self.run = run  # its cost_usd is the finished steps' total
        self._running: dict[str, float] = {}

    def check(self, label: str, usage: Any) -> None:
        if usage.cost_usd is None or self.limit is None:
            return
        self._running[label] = usage.cost_usd
        spent = self.run.cost_usd + sum(self._running.values())
        if spent > self.limit:
            raise BudgetExceeded(f"the run's cost ${spent:.4f} exceeds max_cost_usd "
                                 f"${self.limit:.4f}; raise the budget or shorten the run")

    def settle(self, label: str, cost: float) -> None:
        self._running.pop(label, None)
        self.run.cost_usd += cost


@dataclass
class Walker:
    run_leaf: Callable[[Any, Scope, Iterable[Any]], Awaitable[StepResult]]
    emit: Callable[[Any], None]  # the run's listeners
    record: Callable[[StepResult, bool], None]  # (result, is_leaf): log, checkpoint, cost
    resumed: dict[str, StepResult] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    # Partial results of failed or cancelled nodes, by label, until their slot takes them.
    partials: dict[str, StepResult] = field(default_factory=dict)

    async def run_steps(self, steps: Sequence[Any], scope: Scope,
                        into: dict[str, StepResult]) -> None:
        """Run `steps` one after another in `scope`; each result goes into `into` and is
        visible to the later steps by name."""
        shared = into is scope.results
        for index, step in enumerate(steps):
            await self.run_node(step, scope.child(step.name), (into, step.name),
                                following=islice(steps, index + 1, None))  # lazy: no copy
            if not shared and step.name in into:
                scope.results[step.name] = into[step.name]

    async def run_node(self, step: Any, scope: Scope, slot: Slot,
                       following: Iterable[Any] = ()) -> StepResult | None:
        label = scope.label
        done = self.resumed.get(label)
        if done is not None:
            _put(slot, done)
            return done
        from rillet.steps import container_of

        module: Any = container_of(step)
        gated = module is None or not getattr(module, "OWN_CONDITION", False)
        if gated and step.condition is not None and not self.holds(step.condition, scope):
            self.skipped.append(label)
            self.emit(StepSkipped(label, "condition is false"))
            return None
        result: StepResult | None = None
        try:
            if module is None:
                result = await self.run_leaf(step, scope, following)
            else:
                result = await self._run_container(module, step, scope)
            _put(slot, result)
            self.record(result, module is None)
        except StepError as exc:
            if exc.step == label and label not in self.partials:  # it failed before it began
                self.partials[label] = StepResult(
                    step=label, text=exc.partial_text, error=_own_message(exc, label),
                    status="cancelled" if exc.cancelled else "failed")
            self._keep_partial(label, slot)
            raise
        except asyncio.CancelledError:
            self._keep_partial(label, slot)
            raise
        except Exception as exc:  # noqa: BLE001 - a bug at any depth fails the run, named
            message = _own_message(exc, label)
            partial = self.partials.setdefault(label, StepResult(
                step=label, status="failed", error=message,  # e.g. its record failed
                text=result.text if result is not None else ""))
            self._keep_partial(label, slot)
            raise StepError(label, message, partial_text=partial.text, cause=exc) from exc
        return result

    def _keep_partial(self, label: str, slot: Slot) -> None:
        """A failed node's partial result goes where its result would have gone."""
        partial = self.partials.pop(label, None)
        if partial is not None:
            _put(slot, partial)
            try:
                self.record(partial, False)  # logged as failed; its cost is not settled
            except Exception as exc:  # noqa: BLE001 - the step's own error is the one to tell
                self.warnings.append(f"step '{label}': its partial result was not "
                                     f"recorded: {_own_message(exc, label)}")

    async def run_concurrently(self, jobs: Iterable[Callable[[], Awaitable[Any]]], *,
                               label: str, max_parallel: int, continue_on_error: bool) -> None:
        """Run the jobs at most `max_parallel` at a time. The first failure cancels the
        others (each keeps its partial text) unless `continue_on_error`; the error then
        names every path that failed."""
        pending = iter(jobs)
        failed: list[StepError] = []

        async def worker() -> None:
            for job in pending:  # workers share one iterator: no task per job waits idle
                try:
                    await job()
                except StepError as exc:
                    if not continue_on_error:
                        raise
                    failed.append(exc)

        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(max(1, max_parallel)):
                    group.create_task(worker())
        except* StepError as errors:
            failed.extend(e for e in errors.exceptions if isinstance(e, StepError))
            raise group_error(label, failed) from errors.exceptions[0]
        if failed:
            self.warnings.append(f"step '{label}': continued after {len(failed)} failure(s) "
                                 f"(continue_on_error): " + "; ".join(map(str, failed)))

    # -- containers -----------------------------------------------------------------------

    async def _run_container(self, module: Any, step: Any, scope: Scope) -> StepResult:
        label = scope.label
        self.emit(StepStarted(label, step.type, None, None, True))
        started = perf_counter()
        children: Any = [] if module.CHILDREN is list else {}
        try:
            text = await module.run(step, scope, self, children)
        except BaseException as exc:
            cancelled = isinstance(exc, asyncio.CancelledError) or (
                isinstance(exc, StepError) and exc.cancelled)
            message = "the step was cancelled" if isinstance(exc, asyncio.CancelledError) \
                else _own_message(exc, label)
            partial = container_result(label, children, status="cancelled" if cancelled
                                       else "failed", error=message, started=started)
            self.partials[label] = partial
            self.emit(StepFailed(label, message, partial.text, cancelled))
            if isinstance(exc, StepError) and exc.step == label or \
                    not isinstance(exc, Exception):  # cancellation, KeyboardInterrupt
                raise
            raise StepError(label, message, partial_text=partial.text, cause=exc,
                            cancelled=cancelled) from exc
        result = container_result(label, children, started=started, text=text)
        self.emit(StepCompleted(label, result.text, result.metrics, result.cost_usd))
        return result

    def holds(self, condition: Any, scope: Scope) -> bool:
        try:
            return evaluate(condition, scope.template_context())
        except RilletError as exc:
            raise StepError(scope.label, str(exc), cause=exc) from exc


def container_result(label: str, children: Any, *, started: float, status: str = "completed",
                     error: str | None = None, text: str | None = None) -> StepResult:
    results = list(_leaves(children))
    return StepResult(
        step=label, status=status, error=error, children=children,
        text=text if text is not None else children_text(children),
        cost_usd=_total_cost(results),
        input_tokens=sum(r.input_tokens for r in results),
        output_tokens=sum(r.output_tokens for r in results),
        metrics={"duration_s": round(perf_counter() - started, 6)})


def _total_cost(results: Iterable[StepResult]) -> float | None:
    """The children's cost; unknown (None) when one ran a model with no known price."""
    costs = [r.cost_usd for r in results]
    return None if None in costs else sum(costs)


def children_text(children: Any) -> str:
    """A container's text: its children's texts as JSON, in the children's own shape."""
    def own(result: StepResult) -> Any:  # a nested container's texts stay structure
        data = result.data if result.children is not None else None
        return data if data is not None else result.text

    def texts(value: Any) -> Any:
        if isinstance(value, StepResult):  # claude_batch: one result per task
            return own(value)
        if isinstance(value, dict):
            return {name: own(r) for name, r in value.items()}
        return [None if it is None else texts(it) for it in value]

    return json.dumps(texts(children), ensure_ascii=False)


def group_error(label: str, failed: list[StepError]) -> StepError:
    named = "; ".join(_own_message(e, label) for e in failed)
    return StepError(label, named, cancelled=all(e.cancelled for e in failed))


def _own_message(exc: BaseException, label: str) -> str:
    """The error of a child, named by the child's path (a container's own prefix goes)."""
    if isinstance(exc, StepError):
        return str(exc) if exc.step != label else str(exc).removeprefix(f"step '{label}': ")
    if isinstance(exc, RilletError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _leaves(children: Any) -> Iterable[StepResult]:
    items = children.values() if isinstance(children, dict) else \
        (r for it in children if it is not None
         for r in ((it,) if isinstance(it, StepResult) else it.values()))
    return [r for r in items if r is not None]


def _put(slot: Slot, result: StepResult) -> None:
    holder, key = slot
    if isinstance(holder, list):
        while len(holder) <= key:
            holder.append(None)
    holder[key] = result
