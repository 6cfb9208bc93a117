"""One item of a batch: one ordinary run of the workflow with the item's inputs, and the
line it leaves in batch.jsonl. The local scheduler and the Ray worker both call `run_item`.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from time import perf_counter
from typing import Any

from rillet.batching.aimd import RATE_LIMIT_KINDS
from rillet.batching.inputs import Item
from rillet.errors import ProviderError
from rillet.events import Event


@dataclass
class ItemSettings:
    """What every item's run shares. Plain data, so it travels to Ray workers."""

    output_dir: Path
    mode: str | None = None
    script: Any = None  # a Script or its path: one object, so its fault counters are shared
    sim_base_url: str | None = None
    run_options: dict[str, Any] = field(default_factory=dict)  # more RunOptions fields


class ItemCancelled(Exception):  # noqa: N818 - carries the record of a cancelled item
    def __init__(self, record: dict[str, Any]):
        self.record = record
        super().__init__(f"item {record['item']} was cancelled")


def safe_name(item_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", item_id).strip("._") or "item"


def item_dir(output_dir: Path, item_id: str) -> Path:
    return output_dir / "items" / safe_name(item_id)


async def run_item(workflow: Any, item: Item, settings: ItemSettings, *, attempt: int = 1,
                   emit: Callable[[Event], None] | None = None) -> dict[str, Any]:
    """Run the item and return its batch.jsonl record (with `rate_limited`, which the
    scheduler reads and drops). Raises ItemCancelled, with the partial record, when the
    run is cancelled."""
    from rillet.api import run_async
    from rillet.providers.registry import STREAM_OBSERVER

    started_at = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
    if item.error is not None:
        return _record(item, "failed", {}, attempt, started_at, 0.0, error=item.error)
    out = item_dir(settings.output_dir, item.id)
    run_id = safe_name(item.id) + ("" if attempt == 1 else f".retry{attempt - 1}")
    if getattr(workflow, "checkpoint_enabled", False):  # one checkpoint file per item
        workflow = workflow.model_copy(update={"checkpoint_dir": str(out / "checkpoints")})
    rate_limits: list[str] = []
    token = STREAM_OBSERVER.set(_rate_limit_observer(rate_limits))
    listeners = [*settings.run_options.get("listeners", []),
                 *([_Emit(emit)] if emit is not None else [])]
    started = perf_counter()
    try:
        result = await run_async(
            workflow, **{**settings.run_options, "inputs": item.inputs, "mode": settings.mode,
                         "script": settings.script, "sim_base_url": settings.sim_base_url,
                         "output_dir": out, "run_id": run_id, "quiet": True,
                         "listeners": listeners})
    except asyncio.CancelledError:
        steps = _steps_on_disk(out / run_id / "results.json")
        raise ItemCancelled(_record(item, "cancelled", steps, attempt, started_at,
                                    perf_counter() - started,
                                    error="cancelled: the batch stopped before it finished",
                                    results_path=out / run_id / "results.json")) from None
    except Exception as exc:  # noqa: BLE001 - the item fails alone, the batch goes on
        return _record(item, "failed", {}, attempt, started_at, perf_counter() - started,
                       error=f"{type(exc).__name__}: {exc}")
    finally:
        STREAM_OBSERVER.reset(token)
    steps = {name: r.to_dict() for name, r in result.results.items()}
    record = _record(item, result.status, steps, attempt, started_at, result.duration_s,
                     error=result.error, failed_step=result.failed_step,
                     results_path=result.results_path)
    record["rate_limited"] = rate_limits
    return record


def _rate_limit_observer(seen: list[str]) -> Callable[..., AsyncIterator[Event]]:
    def observe(stream: AsyncIterator[Event], request: Any, kind: str
                ) -> AsyncIterator[Event]:
        return _watch(stream, kind, seen)
    return observe


async def _watch(stream: AsyncIterator[Event], kind: str, seen: list[str]
                 ) -> AsyncIterator[Event]:
    try:
        async for event in stream:
            yield event
    except ProviderError as exc:
        if exc.kind in RATE_LIMIT_KINDS:
            seen.append(f"{kind}: {exc.kind}" + (f" (HTTP {exc.status})" if exc.status else ""))
        raise
    finally:
        close = getattr(stream, "aclose", None)
        if close is not None:
            await close()


class _Emit:
    name = "rillet.batching"

    def __init__(self, emit: Callable[[Event], None]):
        self.on_event = emit


def _steps_on_disk(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("steps", {})
    except (OSError, ValueError):
        return {}


def _record(item: Item, status: str, steps: dict[str, Any], attempt: int, started_at: str,
            duration_s: float, *, error: str | None = None, failed_step: str | None = None,
            results_path: Path | None = None) -> dict[str, Any]:
    return {
        "item": item.id, "source": item.source, "inputs": item.inputs, "status": status,
        "error": error, "failed_step": failed_step,
        "steps": {name: {k: s.get(k) for k in ("status", "text", "input_tokens",
                                               "output_tokens", "cost_usd", "error")}
                  | {"duration_s": (s.get("metrics") or {}).get("duration_s")}
                  for name, s in steps.items()},
        "cost_usd": _cost(steps),
        "input_tokens": sum(s.get("input_tokens") or 0 for s in steps.values()),
        "output_tokens": sum(s.get("output_tokens") or 0 for s in steps.values()),
        "started_at": started_at, "duration_s": round(duration_s, 6), "attempts": attempt,
        "results_path": str(results_path) if results_path else None,
    }


def _cost(steps: dict[str, Any]) -> float | None:
    """The item's cost; null when a step ran a model with no known price."""
    costs = [s.get("cost_usd", 0.0) for s in steps.values()]
    return None if None in costs else round(sum(costs), 8)
