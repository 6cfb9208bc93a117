"""`rillet.batching(...)`: many ordinary runs of one workflow, one per item, scheduled with
a concurrency window shared per provider, a budget over the whole batch and a journal
(batch.jsonl) that makes resuming safe.

The scheduler is the only place that starts items, writes batch.jsonl and moves the
windows; a backend (in-process asyncio, or Ray) only runs one item and reports its events.
"""

from __future__ import annotations

import asyncio
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter
from typing import Any

from rillet.batching import journal
from rillet.batching.aimd import Window, provider_keys
from rillet.batching.events import (
    BudgetStopped, ConcurrencyChanged, ItemEvent, ItemResult, ItemRetried, ItemStarted,
)
from rillet.batching.inputs import Item, read_items
from rillet.batching.item import ItemCancelled, ItemSettings
from rillet.batching.memory import claude_cli_cap
from rillet.errors import RilletError
from rillet.events import StepCompleted, Usage


class ItemLost(Exception):  # noqa: N818 - the backend lost the item (its worker died)
    pass


@dataclass
class BatchStats:
    """Figures for the progress view, kept up to date by the scheduler."""

    total: int = 0
    skipped: int = 0  # done in an earlier run (resume)
    completed: int = 0
    failed: int = 0
    cancelled: int = 0
    running: int = 0
    output_tokens: int = 0
    spent_usd: float = 0.0
    budget_usd: float | None = None
    started: float = field(default_factory=perf_counter)
    windows: dict[str, int] = field(default_factory=dict)

    @property
    def finished(self) -> int:
        return self.completed + self.failed + self.cancelled

    @property
    def elapsed_s(self) -> float:
        return perf_counter() - self.started

    @property
    def tokens_per_s(self) -> float:
        return self.output_tokens / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        left = self.total - self.skipped - self.finished
        if not self.finished:
            return None
        return left * self.elapsed_s / self.finished


class _Live:
    """What a running item has streamed: its cost and tokens per step so far."""

    __slots__ = ("cost", "tokens")

    def __init__(self) -> None:
        self.cost: dict[str, float] = {}
        self.tokens: dict[str, int] = {}


async def batch(workflow: Any, inputs: str | Path | list[dict[str, Any]], *,
                output_dir: str | Path | None = None, concurrency: int = 4,
                resume: bool = False, ray: bool | str = False, events: bool = False,
                max_cost_usd: float | None = None, mode: str | None = None,
                script: Any = None, max_attempts: int = 5,
                stats: BatchStats | None = None, **run_options: Any
                ) -> AsyncIterator[Any]:
    """Run `workflow` once per item of `inputs` (a .jsonl / .csv file, a folder, or a list
    of inputs dicts) and yield an ItemResult as each finishes; with `events=True`, also
    ItemStarted, ItemEvent, ItemRetried, ConcurrencyChanged and BudgetStopped.

    `ray=True` runs the items on a local Ray cluster, `ray="host:port"` on that one.
    Leaving the loop early cancels the running items (recorded as cancelled).
    """
    from rillet.api import _as_workflow

    wf = _as_workflow(workflow)
    items = (read_items(inputs) if isinstance(inputs, (str, Path))
             else [Item(f"item-{n}", f"inputs[{n}]", dict(x)) for n, x in enumerate(inputs)])
    if len({item.id for item in items}) != len(items):
        raise RilletError("two inputs items have the same id")
    out = Path(output_dir or Path(wf.defaults.output_dir) / "batch" / _safe(wf.name))
    path = out / journal.NAME
    done = journal.load(path)
    if done and not resume:
        raise RilletError(f"{path} already holds {len(done)} item(s): pass --resume to go on "
                          f"with it, or choose another --output-dir")
    script = _load_script(script)
    settings = ItemSettings(output_dir=out.resolve(), mode=mode, script=script,
                            run_options=run_options)
    scheduler = _Scheduler(wf, items, settings, done, concurrency=concurrency,
                           max_cost_usd=max_cost_usd, max_attempts=max_attempts,
                           stats=stats or BatchStats(), journal_path=path, ray=ray,
                           want_events=events)
    async for out_item in scheduler.run():
        yield out_item


def _safe(name: str) -> str:
    from rillet.batching.item import safe_name

    return safe_name(name)


def _load_script(script: Any) -> Any:
    if isinstance(script, (str, Path)):
        from rillet.sim.script import Script

        return Script.load(script)
    return script


class _Scheduler:
    def __init__(self, workflow: Any, items: list[Item], settings: ItemSettings,
                 done: dict[str, dict[str, Any]], *, concurrency: int,
                 max_cost_usd: float | None, max_attempts: int, stats: BatchStats,
                 journal_path: Path, ray: bool | str, want_events: bool):
        self.workflow = workflow
        self.settings = settings
        self.stats = stats
        self.max_attempts = max_attempts
        self.budget = max_cost_usd
        self.journal_path = journal_path
        self.ray = ray
        self.want_events = want_events
        # Resume: items with a final record are skipped; cancelled ones run again.
        finished = {k for k, r in done.items() if r.get("status") in ("completed", "failed")}
        self.queue: deque[tuple[Item, int]] = deque(
            (item, 1) for item in items if item.id not in finished)
        stats.total = len(items)
        stats.skipped = len(items) - len(self.queue)
        stats.budget_usd = max_cost_usd
        stats.spent_usd = sum(r.get("cost_usd") or 0.0 for k, r in done.items()
                              if k in finished)
        self.spent_done = stats.spent_usd
        ceiling = max(1, concurrency)
        cap = claude_cli_cap(workflow, settings.mode,
                             prewarm=settings.run_options.get("prewarm", True))
        if cap is not None:
            ceiling = min(ceiling, cap)
        self.windows = [Window(key, ceiling) for key in provider_keys(workflow, settings.mode)
                        ] or [Window("items", ceiling)]
        self.concurrency = ceiling
        self.live: dict[str, _Live] = {}
        self.running: dict[asyncio.Task[dict[str, Any]], tuple[Item, int]] = {}
        self.out: asyncio.Queue[Any] = asyncio.Queue()
        self.stopping = False
        self.writer = ThreadPoolExecutor(1, thread_name_prefix="rillet-batch-journal")
        self.writes: set[asyncio.Future[None]] = set()
        for w in self.windows:
            stats.windows[w.name] = w.size

    # -- the loop ---------------------------------------------------------------------------

    async def run(self) -> AsyncIterator[Any]:
        backend = await self._backend()
        log = journal.Journal(self.journal_path)
        running = self.running
        done_marker = object()
        try:
            loop_task = asyncio.ensure_future(self._loop(backend, log, running))
            loop_task.add_done_callback(lambda _: self.out.put_nowait(done_marker))
            try:
                while True:
                    got = await self.out.get()
                    if got is done_marker:
                        break
                    yield got
                await loop_task
            finally:
                if not loop_task.done():
                    loop_task.cancel()
                    await asyncio.gather(loop_task, return_exceptions=True)
        finally:
            self.writer.shutdown(wait=True)
            log.close()
            await backend.aclose()

    async def _loop(self, backend: Any, log: journal.Journal,
                    running: dict[asyncio.Task[dict[str, Any]], tuple[Item, int]]) -> None:
        self._update_spent()  # a resumed batch may have spent its budget already
        try:
            while self.queue or running:
                while (self.queue and not self.stopping and len(running) < self.concurrency
                       and all(w.free for w in self.windows)):
                    item, attempt = self.queue.popleft()
                    for w in self.windows:
                        w.in_use += 1
                    self.live[item.id] = _Live()
                    task = asyncio.ensure_future(
                        backend.run(item, attempt, self._on_event(item.id),
                                    self._on_started(item.id, attempt)))
                    running[task] = (item, attempt)
                    self.stats.running = len(running)
                if not running:
                    break
                finished, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for task in finished:
                    item, attempt = running.pop(task)
                    self._finish(task, item, attempt, log)
                self.stats.running = len(running)
        except asyncio.CancelledError:
            await self._cancel_all(running, log)
            await asyncio.gather(*self.writes, return_exceptions=True)
            raise
        await self._cancel_all(running, log)  # the budget stop left some (none otherwise)
        await asyncio.gather(*self.writes)

    async def _cancel_all(self, running: dict[asyncio.Task[dict[str, Any]], tuple[Item, int]],
                          log: journal.Journal) -> None:
        for task in running:
            task.cancel()
        if running:
            await asyncio.wait(running)
        for task, (item, attempt) in list(running.items()):
            self._finish(task, item, attempt, log)
        running.clear()
        self.stats.running = 0

    def _finish(self, task: asyncio.Task[dict[str, Any]], item: Item, attempt: int,
                log: journal.Journal) -> None:
        for w in self.windows:
            w.in_use -= 1
        self.live.pop(item.id, None)
        try:
            record = task.result()
        except ItemCancelled as exc:
            record = exc.record
        except asyncio.CancelledError:
            record = _cancelled(item, attempt)
        except ItemLost as exc:
            if self._retry(item, attempt, str(exc)):
                return
            record = _failed(item, attempt, f"{exc}; gave up after {attempt} attempt(s)")
        except Exception as exc:  # noqa: BLE001 - a backend bug fails the item, not the batch
            record = _failed(item, attempt, f"{type(exc).__name__}: {exc}")
        limited = record.pop("rate_limited", None)
        if limited:
            for w in self.windows:
                if w.rate_limited():
                    self._window_changed(w, f"lowered: {limited[0]}")
            if record["status"] == "failed" and not self.stopping and self._retry(
                    item, attempt, f"rate limited ({limited[0]})"):
                return
        elif record["status"] == "completed":
            for w in self.windows:
                if w.succeeded():
                    self._window_changed(w, "raised after successes")
        # fsync takes milliseconds: it runs on the journal's thread, not in this loop, and
        # the item is reported once its line is on disk.
        written = asyncio.get_running_loop().run_in_executor(self.writer, log.append, record)
        self.writes.add(written)
        written.add_done_callback(self.writes.discard)
        written.add_done_callback(lambda _: self.out.put_nowait(ItemResult(item.id, record)))
        self.spent_done += record.get("cost_usd") or 0.0
        status = record["status"]
        if status == "completed":
            self.stats.completed += 1
        elif status == "cancelled":
            self.stats.cancelled += 1
        else:
            self.stats.failed += 1
        self._update_spent()

    def _retry(self, item: Item, attempt: int, reason: str) -> bool:
        if attempt >= self.max_attempts or self.stopping:
            return False
        self.queue.append((item, attempt + 1))
        if self.want_events:
            self.out.put_nowait(ItemRetried(item.id, attempt + 1, reason))
        return True

    def _window_changed(self, window: Window, reason: str) -> None:
        self.stats.windows[window.name] = window.size
        if self.want_events:
            self.out.put_nowait(ConcurrencyChanged(window.name, window.size, reason))

    # -- what running items report -----------------------------------------------------------

    def _on_started(self, item_id: str, attempt: int) -> Callable[[dict[str, Any]], None]:
        def started(worker: dict[str, Any]) -> None:
            live = self.live.get(item_id)
            if live is not None:  # a retry starts from nothing
                live.cost.clear()
                live.tokens.clear()
            if self.want_events:
                self.out.put_nowait(ItemStarted(item_id, attempt, worker))
        return started

    def _on_event(self, item_id: str) -> Callable[[Any], None]:
        want = self.want_events
        put = self.out.put_nowait

        def on_event(event: Any) -> None:
            kind = type(event)
            if kind is Usage or kind is StepCompleted:
                self._account(item_id, event)
            if want:
                put(ItemEvent(item_id, event))
        return on_event

    def _account(self, item_id: str, event: Any) -> None:
        live = self.live.get(item_id)
        if live is None:
            return
        if type(event) is Usage:
            before = live.tokens.get(event.step, 0)
            live.tokens[event.step] = event.output_tokens
            self.stats.output_tokens += event.output_tokens - before
        if event.cost_usd is not None:
            live.cost[event.step] = event.cost_usd
        self._update_spent()

    def _update_spent(self) -> None:
        spent = self.spent_done + sum(sum(x.cost.values()) for x in self.live.values())
        self.stats.spent_usd = spent
        if self.budget is not None and spent >= self.budget and not self.stopping:
            self.stopping = True
            if self.want_events:
                self.out.put_nowait(BudgetStopped(spent, self.budget))
            for task in self.running:
                task.cancel()

    # -- backends ------------------------------------------------------------------------------

    async def _backend(self) -> Any:
        if self.ray:
            from rillet.batching.ray_backend import RayBackend

            return await RayBackend.start(self.workflow, self.settings,
                                          None if self.ray is True else str(self.ray))
        from rillet.batching.local import LocalBackend

        return await LocalBackend.start(self.workflow, self.settings)


def _cancelled(item: Item, attempt: int) -> dict[str, Any]:
    from rillet.batching.item import _record  # noqa: PLC2701

    return _record(item, "cancelled", {}, attempt, "", 0.0,
                   error="cancelled: the batch stopped before it finished")


def _failed(item: Item, attempt: int, error: str) -> dict[str, Any]:
    from rillet.batching.item import _record  # noqa: PLC2701

    return _record(item, "failed", {}, attempt, "", 0.0, error=error)
