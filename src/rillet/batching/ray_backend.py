"""The Ray backend: each item runs as a Ray task, an ordinary rillet run inside a worker,
and its events come home through a Ray streaming generator, coalesced (a chunk every
~16 ms or ~4 KB of text) so a token does not cost a Ray object.

The driver keeps the journal: a worker that dies mid-item makes the item run again on
another worker (the scheduler's retry), and only the attempt that finishes is written.
"""

from __future__ import annotations

import asyncio
import os
import queue
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from time import monotonic
from typing import Any

from rillet.batching.inputs import Item
from rillet.batching.item import ItemCancelled, ItemSettings, _record, run_item
from rillet.events import StepCompleted, StepFailed, StepStarted, TextDelta, Usage

COALESCE_S = 0.016
COALESCE_BYTES = 4096
ITEM_NUM_CPUS = 0.5  # items wait on the network; two share a CPU


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        from rillet.errors import RilletError

        raise RilletError("--ray needs Ray: pip install 'rillet[ray]'") from None
    return ray


class RayBackend:
    def __init__(self, ray: Any, workflow_ref: Any, settings: ItemSettings, *,
                 owns_cluster: bool, simulator: Any):
        self.ray = ray
        self.workflow_ref = workflow_ref
        self.settings = settings
        self.owns_cluster = owns_cluster
        self._simulator = simulator
        self._remote = ray.remote(num_cpus=ITEM_NUM_CPUS, max_retries=0)(_run_remote)

    @classmethod
    async def start(cls, workflow: Any, settings: ItemSettings, address: str | None
                    ) -> RayBackend:
        ray = _import_ray()
        owns = not ray.is_initialized()
        if owns:
            ray.init(address=address, include_dashboard=False, log_to_driver=False,
                     configure_logging=False)
        simulator = None
        if _one_machine(ray):  # the workers share this process's folders and loopback
            from rillet.batching.local import uses_simulator

            settings.run_options.setdefault(
                "workspace_dir", str(Path(workflow.workspace_dir).resolve()))
            if settings.sim_base_url is None and uses_simulator(workflow, settings.mode):
                from rillet.sim.server import SimulatorThread

                simulator = SimulatorThread(settings.script)
                simulator.__enter__()
                settings.sim_base_url = simulator.base_url
        if settings.script is not None and not isinstance(settings.script, (str, Path)):
            # As data: a Script holds a Lock, which does not pickle.
            settings.script = settings.script.model_dump(mode="json", exclude_unset=True)
        return cls(ray, ray.put(workflow), settings, owns_cluster=owns, simulator=simulator)

    async def run(self, item: Item, attempt: int, emit: Callable[[Any], None],
                  started: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        from ray.exceptions import RayError, RayTaskError

        partial = _Partial()
        generator = self._remote.options(num_returns="streaming").remote(
            self.workflow_ref, item, self.settings, attempt)
        try:
            async for ref in generator:
                kind, payload = await ref
                if kind == "events":
                    for event in payload:
                        partial.see(event)
                        emit(event)
                elif kind == "started":
                    started(payload)
                else:
                    record, document = payload
                    _bring_home(record, document)
                    return record
        except asyncio.CancelledError:
            self.ray.cancel(generator)
            raise ItemCancelled(partial.record(item, attempt)) from None
        except RayTaskError:
            raise
        except RayError as exc:  # the worker or its node died: the item is lost, not failed
            from rillet.batching.scheduler import ItemLost

            raise ItemLost(f"its Ray worker was lost ({type(exc).__name__})") from None
        raise RuntimeError("the Ray task ended without a record")

    async def aclose(self) -> None:
        if self._simulator is not None:
            self._simulator.__exit__(None, None, None)
            self._simulator = None
        if self.owns_cluster:
            self.ray.shutdown()


def _one_machine(ray: Any) -> bool:
    from ray.util.client import ray as client

    return not client.is_connected() and len([n for n in ray.nodes() if n["Alive"]]) == 1


def _bring_home(record: dict[str, Any], document: str | None) -> None:
    """On a cluster, results.json was written on the worker's machine: write it here too."""
    path = record.get("results_path")
    if document is None or not path or Path(path).exists():
        return
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(document, encoding="utf-8")


class _Partial:
    """What the driver saw of an item, for its record when Ctrl-C or the budget cancels it
    (the worker is stopped then and sends nothing more)."""

    def __init__(self) -> None:
        self.steps: dict[str, dict[str, Any]] = {}

    def see(self, event: Any) -> None:
        kind = type(event)
        if kind is StepStarted:
            self.steps[event.step] = {"status": "cancelled", "text": "", "cost_usd": 0.0}
        elif kind is TextDelta and event.step in self.steps:
            self.steps[event.step]["text"] += event.text
        elif kind is StepCompleted:
            self.steps[event.step] = {"status": "completed", "text": event.text,
                                      "cost_usd": event.cost_usd,
                                      "input_tokens": event.metrics.get("input_tokens"),
                                      "output_tokens": event.metrics.get("output_tokens"),
                                      "metrics": event.metrics}
        elif kind is StepFailed and event.step in self.steps:
            self.steps[event.step]["error"] = event.error

    def record(self, item: Item, attempt: int) -> dict[str, Any]:
        return _record(item, "cancelled", self.steps, attempt, "", 0.0,
                       error="cancelled: the batch stopped before it finished")


# -- in the worker ------------------------------------------------------------------------

_END = object()


def _run_remote(workflow: Any, item: Item, settings: ItemSettings, attempt: int
                ) -> Iterator[tuple[str, Any]]:
    """A Ray streaming generator: ("started", worker), ("events", [...])..., then
    ("record", (record, results.json text)). The run goes on in its own event loop on a
    thread; this generator hands its events over in chunks."""
    import ray

    if isinstance(settings.script, dict):
        from rillet.sim.script import Script

        settings.script = Script.model_validate(settings.script)
    events: queue.SimpleQueue[Any] = queue.SimpleQueue()
    loop = asyncio.new_event_loop()
    task = loop.create_task(run_item(workflow, item, settings, attempt=attempt,
                                     emit=events.put))
    outcome: dict[str, Any] = {}

    def drive() -> None:
        try:
            outcome["record"] = loop.run_until_complete(task)
        except ItemCancelled as exc:
            outcome["record"] = exc.record
        except BaseException as exc:  # noqa: BLE001 - reported to the driver below
            outcome["error"] = exc
        finally:
            loop.close()
            events.put(_END)

    thread = threading.Thread(target=drive, name=f"rillet-item-{item.id}", daemon=True)
    thread.start()
    yield ("started", {"pid": os.getpid(), "node": ray.get_runtime_context().get_node_id()})
    try:
        yield from _coalesced(events)
    finally:
        if thread.is_alive():  # the driver cancelled: stop the run, close its streams
            loop.call_soon_threadsafe(task.cancel)
            thread.join(timeout=10)
    if "error" in outcome:
        raise outcome["error"]
    record = outcome["record"]
    path = record.get("results_path")
    document = Path(path).read_text(encoding="utf-8") if path and Path(path).exists() else None
    yield ("record", (record, document))


def _coalesced(events: queue.SimpleQueue[Any]) -> Iterator[tuple[str, list[Any]]]:
    """Chunks of events: flushed COALESCE_S after the first one waits, or at
    COALESCE_BYTES of text."""
    chunk: list[Any] = []
    size = 0
    deadline = 0.0
    while True:
        try:
            event = events.get(timeout=max(0.0, deadline - monotonic()) if chunk else None)
        except queue.Empty:
            yield ("events", chunk)
            chunk, size = [], 0
            continue
        if event is _END:
            if chunk:
                yield ("events", chunk)
            return
        if not chunk:
            deadline = monotonic() + COALESCE_S
        _add(chunk, event)
        size += len(getattr(event, "text", "") or "")
        if size >= COALESCE_BYTES:
            yield ("events", chunk)
            chunk, size = [], 0


def _add(chunk: list[Any], event: Any) -> None:
    """Append `event`, merging a step's text deltas into one and keeping only its last
    Usage (a running total): a token's [TextDelta, Usage] pairs fold into one pair."""
    kind = type(event)
    last = chunk[-1] if chunk else None
    if kind is Usage and type(last) is Usage and last.step == event.step:
        chunk[-1] = event
        return
    if kind is TextDelta:
        text_at = -2 if type(last) is Usage and last.step == event.step else -1
        if (len(chunk) >= -text_at and type(chunk[text_at]) is TextDelta
                and chunk[text_at].step == event.step):
            chunk[text_at] = TextDelta(event.step, chunk[text_at].text + event.text)
            return
    chunk.append(event)
