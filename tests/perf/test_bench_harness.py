"""The benchmark harness's own logic: targets, margins, alternation, percentiles, tables.
(No timing is asserted anywhere: these check the bookkeeping around the measurements.)"""

from __future__ import annotations

import asyncio

import pytest

from bench.harness import (
    AT_LEAST, AT_MOST, Row, ScenarioResult, alternate, markdown_table, percentile, table,
)


def test_a_ceiling_target_is_met_at_or_below_it_and_reports_the_room_left():
    met = Row("added ttft", 0.0004, "s", target=0.001, compare=AT_MOST)
    missed = Row("added ttft", 0.0015, "s", target=0.001, compare=AT_MOST)
    assert met.met is True and round(met.margin, 6) == 0.0006
    assert missed.met is False and round(missed.margin, 6) == -0.0005


def test_a_floor_target_is_met_at_or_above_it_and_reports_the_shortfall():
    met = Row("deltas/s", 250_000, "/s", target=200_000, compare=AT_LEAST)
    missed = Row("deltas/s", 150_000, "/s", target=200_000, compare=AT_LEAST)
    assert met.met is True and met.margin == 50_000
    assert missed.met is False and missed.margin == -50_000


def test_ratio_is_rillet_over_baseline_and_absent_without_a_baseline():
    assert Row("x", 3.0, baseline=2.0).ratio == 1.5
    assert Row("x", 3.0).ratio is None
    assert Row("x", 3.0).met is None


def test_saved_figures_keep_significant_digits_so_the_ratio_matches_them():
    # Absolute rounding (4 decimals for the ratio, 9 for the figures) drifted by more
    # than 1e-3 relative for small ratios and sub-microsecond figures.
    for rillet, baseline in [(4.81234567e-7, 3.3e-4), (0.0123456, 9.87654321), (2.5e-10, 1e-9)]:
        saved = Row("x", rillet, "s", baseline=baseline).to_dict()
        assert saved["ratio"] == pytest.approx(rillet / baseline, rel=1e-5)
        assert saved["ratio"] == pytest.approx(saved["rillet"] / saved["baseline"], rel=1e-5)
        assert saved["rillet"] == pytest.approx(rillet, rel=1e-8)


def test_alternate_changes_who_goes_first_and_drops_warmup_rounds():
    calls: list[str] = []

    def variant(name: str):
        async def call() -> str:
            calls.append(name)
            return f"{name}{len(calls)}"
        return call

    samples = asyncio.run(alternate({"a": variant("a"), "b": variant("b")}, repetitions=2,
                                    warmup=1))
    assert calls == ["a", "b", "b", "a", "a", "b"]
    assert samples == {"a": ["a4", "a5"], "b": ["b3", "b6"]}


def test_percentile_is_nearest_rank():
    values = list(range(1, 101))
    assert percentile(values, 0.5) == 50
    assert percentile(values, 0.99) == 99
    assert percentile(values, 1.0) == 100
    assert percentile([], 0.5) is None


def test_tables_show_values_in_their_units_targets_and_broken_scenarios():
    done = ScenarioResult(2, "per-delta cost")
    done.row("deltas/s, no handler", 812_345.0, "/s", baseline=4_000_000.0,
             baseline_name="raw loop", target=200_000, compare=AT_LEAST)
    done.row("TTFT added", 0.0021, "s", target=0.001, compare=AT_MOST)
    broken = ScenarioResult(5, "claude chain", error="RuntimeError: the CLI did not start")
    text = table([done, broken])
    assert "812,345/s" in text and "4,000,000/s" in text and "0.20x" in text
    assert "✓ >= 200,000/s" in text
    assert "2.10 ms" in text and "✗ <= 1.00 ms" in text
    assert "error" in text and "RuntimeError: the CLI did not start" in text
    markdown = markdown_table([done, broken])
    assert "| 2 | deltas/s, no handler | 812,345/s | 4,000,000/s (raw loop) | 0.20x |" in markdown


def test_a_rows_note_is_printed_beside_its_metric_in_the_markdown():
    result = ScenarioResult(5, "claude chain")
    result.row("chain total", 2.0, "s", baseline=2.5, note="raw starts one CLI at a time")
    assert "| 5 | chain total (raw starts one CLI at a time) | 2.000 s |" in \
        markdown_table([result])
