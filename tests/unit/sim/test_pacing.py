"""The timetable that paces the simulator's and the mock's deltas."""

from __future__ import annotations

from time import perf_counter

from rillet.sim import pacing
from rillet.sim.pacing import Schedule


async def test_a_fast_pace_is_kept_by_sleeping_only_when_ahead(monkeypatch):
    real_sleep = pacing.asyncio.sleep
    slept: list[float] = []

    async def record(seconds: float) -> None:
        slept.append(seconds)
        await real_sleep(seconds)

    monkeypatch.setattr(pacing.asyncio, "sleep", record)
    schedule = Schedule()
    started = perf_counter()
    for _ in range(1000):  # 10,000 deltas/s: 0.1 ms apart, 0.1 s in all
        await schedule.wait(0.0001)
    elapsed = perf_counter() - started
    # A sleep per delta would take a second or more; the timetable keeps the pace with a
    # sleep only every ten deltas or so.
    assert 0.09 <= elapsed < 0.3
    assert len(slept) <= 150


async def test_slow_deltas_each_sleep_their_own_delay(monkeypatch):
    slept: list[float] = []

    async def record(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(pacing.asyncio, "sleep", record)
    schedule = Schedule()
    for _ in range(3):
        await schedule.wait(0.05)
    # The clock barely moves while nothing sleeps: each wait owes about 50 ms more.
    assert [round(s, 2) for s in slept] == [0.05, 0.1, 0.15]


async def test_a_consumer_far_behind_gets_no_burst_to_catch_up():
    schedule = Schedule(max_debt_s=0.01)
    await schedule.wait(0.0)
    schedule._due -= 5.0  # as if the consumer had stalled for five seconds
    started = perf_counter()
    await schedule.wait(0.02)
    assert perf_counter() - started >= 0.015  # the new delay is honoured from now
