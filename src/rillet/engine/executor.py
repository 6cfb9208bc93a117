"""The executor: sets a run up, hands its steps to the tree walker (rillet.engine.walk),
and runs the leaf steps, driving each model step's stream once and fanning every event out
to the step's handlers, the run's listeners and its output file.

A handler never changes what a step returns: the text is collected by the step's
AsyncResponse whatever the listeners do, and a listener that raises is detached.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter
from typing import Any, TextIO

from rillet import user_code
from rillet.engine.checkpoints import Checkpointer, checkpoint_path, load_checkpoint
from rillet.engine.costs import CostBook
from rillet.engine.context import RunContext, new_run_id, safe_output_path
from rillet.engine.event_log import RunEventLog
from rillet.engine.modes import default_run_mode, providers_used, step_mode
from rillet.engine.output import OutputFileWriter
from rillet.engine.results import ResultStore
from rillet.engine.scope import Scope, find_result
from rillet.engine.walk import (
    Budget, ProcessLimiter, Walker, default_claude_processes,
)
from rillet.errors import ProviderError, RilletError, RunRefused, StepError
from rillet.events import (
    Event, HandlerFailed, PartialOutput, PipelineCompleted, PipelineFailed, PipelineStarted,
    ResponseComplete, StepCompleted, StepFailed, StepStarted, TextDelta, ThinkingDelta, Usage,
)
from rillet.providers.pricing.overrides import use_prices
from rillet.result import StepResult
from rillet.steps import MODEL_STEPS, PLAIN_STEPS, container_of
from rillet.steps.prompt_files import ReadPolicy
from rillet.steps.prompt_files import prefetch as prefetch_prompt_files
from rillet.streaming.handler import Handler, HandlerContext, create_handler
from rillet.streaming.handlers.console_presets import debug_level_options, verbose_options
from rillet.streaming.response import AsyncResponse
from rillet.workflow.templates import render
from rillet.workflow.unset_names import EmptyUnsetNames, check_policy


@dataclass
class RunOptions:
    mode: str | None = None  # mock | sim | live | mixed; None: $TEST_MODE, else mixed
    output_dir: str | Path | None = None
    workspace_dir: str | Path | None = None
    inputs: dict[str, Any] = field(default_factory=dict)
    stream: list[str] | None = None  # handlers for every model step, replacing the YAML's
    default_handlers: list[str] = field(default_factory=list)  # for steps that name none
    listeners: list[Any] = field(default_factory=list)  # see every event of the run
    script: Any = None  # a sim Script (or path) for the mock provider and the simulator
    sim_base_url: str | None = None  # use this simulator instead of starting one
    resume: bool = False
    telemetry: bool | None = None
    prewarm: bool = True
    quiet: bool = False
    stdout: TextIO | None = None
    run_id: str | None = None
    allow_code: bool = True  # False: refuse a workflow that names code (--no-code)
    read_paths: list[str | Path] = field(default_factory=list)  # prompt files may come from
    max_file_bytes: int | None = None  # the largest prompt file (None: 10 MB)
    # Claude CLI processes alive at once (each ~190 MB); None: $RILLET_MAX_CLAUDE_PROCESSES,
    # else from the available memory (rillet.engine.walk.default_claude_processes).
    max_claude_processes: int | None = None
    # A template name nothing set: "error" stops the run (the default), "empty" renders it
    # as empty text with a warning, as pipeline_ex did (--unset-names; unset_names.py).
    unset_names: str = "error"


@dataclass
class RunResult:
    run_id: str
    workflow: str
    status: str  # completed | failed | cancelled
    results: dict[str, StepResult]
    output_dir: Path
    results_path: Path | None
    cost_usd: float | None  # None: some step ran a model with no known price
    duration_s: float
    error: str | None = None
    failed_step: str | None = None
    skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # Steps a fallback_action let the run go on without (status "degraded"): a run that
    # completed with some is said to, not reported as clean.
    degraded: list[str] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return self.status == "completed"

    def __getitem__(self, step: str) -> StepResult:
        """A step's result by name, or at any depth by its path (`fanout.branch_a`,
        `review[3].summarise`)."""
        found = self.results.get(step)
        return found if found is not None else find_result(self.results, step)

    def raise_for_status(self) -> RunResult:
        if not self.success:
            raise StepError(self.failed_step or "?", self.error or self.status,
                            partial_text=self.results[self.failed_step].text
                            if self.failed_step in self.results else "",
                            cancelled=self.status == "cancelled")
        return self


class Fanout:
    """The listeners of one step. One that raises is detached and reported."""

    def __init__(self, step: str, listeners: list[Any], warnings: list[str],
                 run: Fanout | None = None):
        self.step = step
        # The run's listeners see the step's events too, but their lifecycle (on_complete,
        # on_error, close) belongs to the run, and detaching one detaches it from the run.
        shared = run.active if run is not None else []
        self.run = run
        self.active = [*listeners, *shared]
        self.shared_ids = {id(x) for x in shared}
        self.warnings = warnings

    def emit(self, event: Event) -> None:
        for listener in self.active:
            try:
                listener.on_event(event)
            except Exception as exc:  # noqa: BLE001 - any handler bug must not stop the step
                self.detach(listener, exc)

    def detach(self, listener: Any, exc: BaseException) -> None:
        if listener not in self.active:
            return
        self.active = [x for x in self.active if x is not listener]
        if self.run is not None and id(listener) in self.shared_ids:
            self.run.active = [x for x in self.run.active if x is not listener]
        name = getattr(listener, "name", type(listener).__name__)
        message = f"{type(exc).__name__}: {exc}"
        self.warnings.append(f"step '{self.step}': handler '{name}' failed and was detached "
                             f"({message})")
        self.emit(HandlerFailed(self.step, str(name), message))

    def call_all(self, method: str, *args: Any) -> None:
        for listener in list(self.active):
            if id(listener) in self.shared_ids:
                continue
            fn = getattr(listener, method, None)
            if fn is None:
                continue
            try:
                fn(*args)
            except Exception as exc:  # noqa: BLE001
                self.detach(listener, exc)

    async def drain(self) -> None:
        for listener in list(self.active):
            if id(listener) in self.shared_ids:
                continue
            drain = getattr(listener, "drain", None)
            if drain is not None:
                try:
                    await drain()
                except Exception as exc:  # noqa: BLE001
                    self.detach(listener, exc)


class Executor:
    def __init__(self, workflow: Any, options: RunOptions | None = None):
        self.workflow = workflow
        environment = getattr(workflow, "environment", None)
        self._debug_level: str | None = getattr(environment, "debug_level", None)
        self.options = options or RunOptions()
        self.warnings: list[str] = []
        self.degraded: list[str] = []  # steps recorded as degraded (claude_robust)
        self._sim: Any = None
        self._sim_url: str | None = self.options.sim_base_url
        self._pool: Any = None
        self._resumed: dict[str, StepResult] = {}  # finished paths of a resumed run
        self._costs = CostBook(self.warnings)  # unknown prices: null, warned once

    # -- the run ---------------------------------------------------------------------------

    async def run(self) -> RunResult:
        wf, opts = self.workflow, self.options
        ctx = self._context()
        checkpointer = self._checkpointer(ctx)  # first: a checkpoint in use refuses the run
        store = ResultStore(ctx.run_dir)
        run_listeners = Fanout("<run>", [*opts.listeners, RunEventLog(ctx.run_dir)],
                               self.warnings)
        self._run_listeners = run_listeners
        self._budget = Budget(wf.max_cost_usd, ctx)
        self._limiter = ProcessLimiter(opts.max_claude_processes or default_claude_processes())
        started = perf_counter()
        status, error, failed_step = "completed", None, None

        def record(result: StepResult, leaf: bool) -> None:
            if leaf:
                self._budget.settle(result.step, self._costs.add(result))
            store.record(result)
            if checkpointer:
                checkpointer.save(result, ctx.state, ctx.global_vars)

        walker = self._walker = Walker(self._run_leaf, run_listeners.emit, record,
                                       resumed=self._resumed, warnings=self.warnings)
        root = Scope.root(ctx)
        from rillet.providers.registry import ProviderPool
        from rillet.providers.telemetry import pipeline_span, telemetry_enabled

        telemetry = telemetry_enabled(opts.telemetry if opts.telemetry is not None
                                      else wf.telemetry)
        self._pool = ProviderPool(mock_script=self._script(), telemetry=telemetry)
        if opts.prewarm:
            self._warm_providers(ctx)
        run_listeners.emit(PipelineStarted("", wf.name, ctx.run_id,
                                           tuple(s.name for s in wf.steps)))
        try:
            with pipeline_span(wf.name, ctx.run_id) if telemetry else nullcontext():
                await walker.run_steps(wf.steps, root, ctx.results)
        except StepError as exc:
            status = "cancelled" if exc.cancelled else "failed"
            error, failed_step = str(exc), exc.step
            if exc.step not in ctx.results:  # it failed before it began (its condition)
                ctx.results[exc.step] = StepResult(step=exc.step, text=exc.partial_text,
                                                   status=status, error=str(exc))
                store.record(ctx.results[exc.step])
        except asyncio.CancelledError:
            status, error = "cancelled", "the run was cancelled"
            failed_step = next((s.name for s in wf.steps if s.name in ctx.results
                                and not ctx.results[s.name].success), None)
            raise
        finally:
            duration = perf_counter() - started
            late_cancel: asyncio.CancelledError | None = None
            try:
                await self._shutdown()
            except asyncio.CancelledError as exc:  # cancelled while closing: record it anyway
                late_cancel = exc
                if status == "completed":
                    status, error = "cancelled", "the run was cancelled"
            if checkpointer:
                checkpointer.close()
            summary = {
                "run_id": ctx.run_id, "workflow": wf.name, "status": status,
                "mode": ctx.run_mode, "duration_s": round(duration, 6),
                "cost_usd": self._costs.total(ctx.cost_usd), "error": error,
                "failed_step": failed_step, "skipped": walker.skipped,
                "degraded": self.degraded, "warnings": self.warnings,
            }
            results_path = store.write_summary(summary, ctx.results)
            store.close()
            if status == "completed":
                run_listeners.emit(PipelineCompleted("", wf.name, ctx.run_id, duration,
                                                     self._costs.total(ctx.cost_usd),
                                                     str(ctx.run_dir)))
            else:
                run_listeners.emit(PipelineFailed("", wf.name, ctx.run_id, error or status,
                                                  failed_step, status == "cancelled"))
            run_listeners.call_all("close")
            if late_cancel is not None:
                raise late_cancel
        return RunResult(ctx.run_id, wf.name, status, ctx.results, ctx.output_dir, results_path,
                         self._costs.total(ctx.cost_usd), duration, error, failed_step,
                         walker.skipped, self.warnings, self.degraded)

    # -- one leaf step ----------------------------------------------------------------------

    async def _run_leaf(self, step: Any, scope: Scope, following: Iterable[Any]) -> StepResult:
        if step.type in PLAIN_STEPS:
            return self._run_plain_step(step, scope)
        module = MODEL_STEPS[step.type]
        kind = module.provider_kind(step)
        if kind == "claude_agent":
            async with self._limiter:
                return await self._run_model_step(step, module, kind, scope, following)
        return await self._run_model_step(step, module, kind, scope, following)

    async def _run_model_step(self, step: Any, module: Any, kind: str, scope: Scope,
                              following: Iterable[Any]) -> StepResult:
        label = scope.label
        mode = step_mode(scope.run.run_mode, step.mode, kind)
        try:
            # Off the event loop, within a timeout; a mock run's stand-ins are warned of.
            self.warnings.extend(f"step '{label}': {warning}" for warning in
                                 await prefetch_prompt_files(step, scope, mode == "mock"))
            request = module.build_request(step, scope, mode)
            request.step = label
            if mode == "sim":
                request.base_url = self._simulator_url()
            listeners = self._step_listeners(step, scope)
        except RilletError as exc:
            raise StepError(label, str(exc), cause=exc) from exc
        fan = Fanout(label, listeners, self.warnings, run=self._run_listeners)
        response = AsyncResponse(label, self._pool.open_stream(request, kind),
                                 metadata={"model": request.model, "provider": kind})
        fan.emit(StepStarted(label, step.type, kind, request.model, step.async_streaming))
        # Only a straight chain at the top warms its next Claude step: there one step runs
        # at a time, so the running CLI and the warm one stay within the process cap.
        if self.options.prewarm and len(scope.path) == 1 and self._limiter.limit >= 2:
            try:
                await self._prewarm_next(following, scope)
            except Exception as exc:  # noqa: BLE001 - a failed warm-up only costs time
                self.warnings.append(f"step '{label}': could not warm the next step: {exc}")
        try:
            async with asyncio.timeout(step.timeout_s):
                await self._drive(response, fan, scope.run, streaming=step.async_streaming)
            result = response.result()
            finish = getattr(module, "finish_result", None)  # shapes or records the result
            if finish is not None:
                result = finish(step, result, scope, request)
        except asyncio.CancelledError:
            await response.aclose()
            await self._fail(fan, response, "cancelled", "the step was cancelled",
                             cancelled=True)
            raise
        except BaseException as exc:
            await response.aclose()
            message = _describe(exc, step, label)
            partial = await self._fail(fan, response, "failed", message,
                                       cancelled=isinstance(exc, StepError) and exc.cancelled)
            recover = getattr(module, "recover", None)  # claude_robust's fallback_action
            degraded = recover(step, partial, exc) if recover is not None else None
            if degraded is not None:
                self._walker.partials.pop(label, None)
                self._degrade(degraded)
                return degraded
            if isinstance(exc, StepError):
                exc.partial_text = partial.text
                raise
            raise StepError(label, message, partial_text=partial.text, cause=exc) from exc
        if result.status == "degraded":
            self._degrade(result)
        fan.emit(StepCompleted(label, result.text, result.metrics, result.cost_usd))
        fan.call_all("on_complete", result)
        await fan.drain()
        fan.call_all("close")
        return result

    def _degrade(self, result: StepResult) -> None:
        """A step its fallback_action let the run go on without: said in the summary."""
        self.degraded.append(result.step)
        self.warnings.append(f"step '{result.step}' degraded: {result.error}")

    async def _drive(self, response: AsyncResponse, fan: Fanout, ctx: RunContext, *,
                     streaming: bool) -> None:
        budget = self._budget if self._budget.limit is not None else None
        step = response.step
        if streaming:
            # The per-token loop: one listener call each, nothing else unless it is Usage.
            async for event in response:
                for listener in fan.active:
                    try:
                        listener.on_event(event)
                    except Exception as exc:  # noqa: BLE001
                        fan.detach(listener, exc)
                if type(event) is Usage and budget is not None:
                    budget.check(step, event)
            return
        # Not streaming: listeners see one text delta with the whole text at the end.
        held: list[Event] = []
        async for event in response:
            kind = type(event)
            if kind is TextDelta or kind is ThinkingDelta or kind is PartialOutput:
                continue
            if kind is Usage and budget is not None:
                budget.check(step, event)
            held.append(event)
        for event in held:
            if type(event) is ResponseComplete:
                if response.thinking:
                    fan.emit(ThinkingDelta(step, response.thinking))
                if response.text:
                    fan.emit(TextDelta(step, response.text))
            fan.emit(event)

    async def _fail(self, fan: Fanout, response: AsyncResponse, status: str, message: str, *,
                    cancelled: bool) -> StepResult:
        partial = response.partial_result(status="cancelled" if cancelled else status,
                                          error=message)
        self._walker.partials[response.step] = partial
        fan.emit(StepFailed(response.step, message, partial.text, cancelled))
        fan.call_all("on_error", StepError(response.step, message, partial_text=partial.text,
                                           cancelled=cancelled), partial)
        await fan.drain()
        fan.call_all("close")
        return partial

    def _run_plain_step(self, step: Any, scope: Scope) -> StepResult:
        label, emit = scope.label, self._run_listeners.emit
        emit(StepStarted(label, step.type, None, None, False))
        started = perf_counter()
        try:
            result = PLAIN_STEPS[step.type].run(step, scope)
        except Exception as exc:  # noqa: BLE001 - a bug in the step fails it, named
            message = _describe(exc, step, label)
            emit(StepFailed(label, message))
            raise StepError(label, message, cause=exc) from exc
        result.step = label
        # What the step measured itself (a set_variable's stream_file), then its duration.
        result.metrics = {**result.metrics, "duration_s": round(perf_counter() - started, 6)}
        emit(StepCompleted(label, result.text, result.metrics, 0.0))
        return result

    # -- listeners ------------------------------------------------------------------------------

    def _step_listeners(self, step: Any, ctx: Scope) -> list[Handler]:
        opts = self.options
        if opts.stream is not None:
            specs: list[tuple[str, dict[str, Any]]] = [(name, {}) for name in opts.stream]
        else:
            specs = step.handler_specs() or [(name, {}) for name in opts.default_handlers]
        if opts.quiet:
            specs = [(name, o) for name, o in specs if name != "console"]
        if step.verbose is not None:
            specs = [(name, verbose_options(name, o, step.verbose)) for name, o in specs]
        elif self._debug_level is not None:
            specs = [(name, debug_level_options(name, o, self._debug_level))
                     for name, o in specs]
        handler_ctx = HandlerContext(step=ctx.label, run_id=ctx.run_id, output_dir=ctx.output_dir,
                                     buffer_size=step.stream_buffer_size,
                                     stdout=opts.stdout or sys.stdout, quiet=opts.quiet)
        listeners: list[Handler] = []
        for name, handler_opts in specs:
            try:
                listeners.append(create_handler(name, handler_opts, handler_ctx))
            except Exception as exc:
                for made in listeners:
                    made.close()
                raise RilletError(f"stream handler '{name}' cannot start: {exc}") from exc
        if step.output_to_file:
            path = safe_output_path(ctx.output_dir,
                                    render(step.output_to_file, ctx.template_context()))
            listeners.append(OutputFileWriter(path))  # type: ignore[arg-type]
        return listeners

    # -- setup and teardown ---------------------------------------------------------------------

    def _context(self) -> RunContext:
        wf, opts = self.workflow, self.options
        base_dir = Path(wf.source_path).parent if getattr(wf, "source_path", None) else Path.cwd()
        # The modules it names may be files beside it; none under --no-code.
        user_code.use_folder(base_dir, allow_code=opts.allow_code)
        use_prices(getattr(wf, "pricing", None))  # the workflow's own prices come first
        run_id = opts.run_id or new_run_id()
        # Like the reference system, output and workspace paths are taken from where the
        # run starts (the project root), not from the workflow file's folder.
        output_dir = Path(opts.output_dir or wf.defaults.output_dir)
        workspace = Path(opts.workspace_dir or wf.workspace_dir)  # made by what uses it
        problem = _unusable_folder(workspace)  # but a bad one fails the run at once
        if problem:
            raise RunRefused(f"the workspace folder {workspace} cannot be used: {problem}")
        ctx = RunContext(workflow=wf, run_id=run_id, base_dir=base_dir, output_dir=output_dir,
                         run_dir=output_dir / run_id, workspace_dir=workspace.resolve(),
                         run_mode=opts.mode or default_run_mode(),
                         inputs={**wf.inputs, **opts.inputs},
                         global_vars=dict(wf.global_vars), state=dict(wf.variables),
                         read_policy=ReadPolicy.for_run(
                             base_dir, [*getattr(wf, "read_paths", ()), *opts.read_paths],
                             opts.max_file_bytes))
        if check_policy(opts.unset_names) == "empty":
            ctx.unset_names = EmptyUnsetNames(self.warnings,
                                              None if opts.quiet else sys.stderr)
        if opts.resume and not wf.checkpoint_enabled:
            raise RunRefused("--resume needs checkpoints, and this workflow has "
                             "checkpoint_enabled: false; nothing to resume from")
        if opts.resume:
            results, state, global_vars = load_checkpoint(self._checkpoint_file(ctx),
                                                          ctx.inputs)
            self._resumed = results  # every finished path, at any depth
            ctx.state.update(state)
            ctx.global_vars.update(global_vars)
            ctx.cost_usd = sum(self._costs.add(r) for r in results.values()
                               if r.children is None)
        return ctx

    def _checkpoint_file(self, ctx: RunContext) -> Path:
        return checkpoint_path(ctx.resolve(self.workflow.checkpoint_dir)
                               if not Path(self.workflow.checkpoint_dir).is_absolute()
                               else Path(self.workflow.checkpoint_dir), self.workflow.name)

    def _checkpointer(self, ctx: RunContext) -> Checkpointer | None:
        if not self.workflow.checkpoint_enabled:
            return None
        return Checkpointer(self._checkpoint_file(ctx), fresh=not self.options.resume,
                            inputs=ctx.inputs)

    def _script(self) -> Any:
        script = self.options.script
        if script is None or not isinstance(script, (str, Path)):
            return script
        from rillet.sim.script import Script

        return Script.load(script)

    def _simulator_url(self) -> str:
        if self._sim_url is None:
            from rillet.sim.server import SimulatorThread

            self._sim = SimulatorThread(self._script())
            self._sim.__enter__()
            self._sim_url = self._sim.base_url
        return self._sim_url

    def _warm_providers(self, ctx: RunContext) -> None:
        """Start the import and client set-up of every SDK the run will use, in the
        background: none of it then falls between one step's end and the next's request."""
        for kind, mode, _ in providers_used(self.workflow, ctx.run_mode):
            try:
                self._pool.warm(kind, mode, self._simulator_url() if mode == "sim" else None)
            except RilletError as exc:  # the step that needs it reports the problem
                self.warnings.append(f"could not prepare {kind} ahead of its step: {exc}")

    async def _prewarm_next(self, following: Iterable[Any], scope: Scope) -> None:
        """Start the CLI session of the next Claude Agent step while this one streams."""
        ctx = scope
        for step in following:
            if container_of(step) is not None:
                return
            if step.type not in MODEL_STEPS:
                continue
            module = MODEL_STEPS[step.type]
            kind = module.provider_kind(step)
            if kind != "claude_agent":
                return
            mode = step_mode(ctx.run.run_mode, step.mode, kind)
            if mode == "mock":
                return
            try:
                request = module.build_request(step, ctx, mode)
            except RilletError:
                # Its prompt most likely takes the answer still streaming. The CLI session
                # depends on the options alone (the prompt is sent later), so warm it
                # from the options; when those need results not there yet, start it cold.
                try:
                    request = module.build_request(step.model_copy(update={"prompt": []}),
                                                   ctx, mode)
                except RilletError:
                    return
            request.step = step.name  # a top-level step: its label is its name
            if mode == "sim":
                request.base_url = self._simulator_url()
            await self._pool.prewarm(request, kind)
            return

    async def _shutdown(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()
        if self._sim is not None:
            self._sim.__exit__(None, None, None)
            self._sim = None


def _unusable_folder(folder: Path) -> str | None:
    """Why `folder` could not be made or written, judged from its nearest existing part."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is not a folder"
    if not os.access(existing, os.W_OK | os.X_OK) and existing != folder:
        return f"{existing} is not writable"
    return None


def _describe(exc: BaseException, step: Any, label: str) -> str:
    if isinstance(exc, TimeoutError):
        return f"timed out after {step.timeout_s} s (timeout_s); the text so far is kept"
    if isinstance(exc, StepError):
        return str(exc).removeprefix(f"step '{label}': ")
    if isinstance(exc, (ProviderError, RilletError)):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
