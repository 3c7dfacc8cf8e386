"""The API benchmarks' arithmetic: percentiles, profile summaries, the memory figure."""

from __future__ import annotations

from pathlib import Path

from bench import memory
from bench.api_bench import top_functions
from bench.load import Sample


def test_percentiles_are_nearest_rank() -> None:
    sample = Sample(latencies=[i / 1000 for i in range(1, 101)], seconds=2.0)
    assert sample.percentile(50) == 0.050
    assert sample.percentile(99) == 0.099
    assert sample.rate == 50
    merged = sample.merge(Sample(latencies=[1.0], seconds=1.0))
    assert merged.count == 101 and merged.seconds == 3.0


def test_a_profile_summary_counts_each_function_once_per_stack(tmp_path: Path) -> None:
    raw = tmp_path / "raw.txt"
    raw.write_text(
        "run (a.py:1);handle (b.py:9);handle (b.py:12) 3\nrun (a.py:1);encode (c.py:4) 1\n"
    )
    top = top_functions(raw)
    assert "4 samples" in top
    assert "100.0    0.0  run (a.py)" in top
    assert "75.0   75.0  handle (b.py)" in top


def test_memory_reports_the_largest_peak_and_every_process() -> None:
    mb = memory.MB
    fig = memory.figure(
        {"api": {"escrow-api-worker-1": 150 * mb}, "e2e": {"ledger-consume": 90 * mb}},
        idle={"escrow-api-worker-1": 100 * mb},
    )
    assert fig.value == 150 and fig.baseline_value == 100 and fig.met is True
    assert fig.details == {"api: escrow-api-worker-1": 150.0, "e2e: ledger-consume": 90.0}
