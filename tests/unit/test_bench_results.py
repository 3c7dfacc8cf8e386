"""The bench's figures: ratios against the baseline of the same run, targets read as written."""

from __future__ import annotations

import json
from pathlib import Path

from bench.results import Figure, Results


def test_a_figure_meets_its_target_on_the_value_or_on_the_ratio() -> None:
    ingest = Figure("ledger_ingest", 12_000, "tx/s", "naive", 2_000, ">= 10000 and ratio >= 5")
    assert ingest.ratio == 6 and ingest.met is True
    slow = Figure("ledger_ingest", 9_000, "tx/s", "naive", 2_000, ">= 10000 and ratio >= 5")
    assert slow.met is False
    assert Figure("p99", 40, "ms", target="< 50").met is True
    assert Figure("no target", 1, "x").met is None
    assert Figure("no baseline", 1, "x", target="ratio >= 2").met is None


def test_results_are_written_as_a_list_of_figures(tmp_path: Path) -> None:
    results = Results()
    results.add(Figure("a", 2, "x", "b", 4, "ratio >= 1"))
    path = results.write(tmp_path / "latest.json")
    (row,) = json.loads(path.read_text())
    assert {k: row[k] for k in ("name", "value", "unit", "baseline_name", "baseline_value",
                                "ratio", "target", "met")} == {
        "name": "a", "value": 2, "unit": "x", "baseline_name": "b", "baseline_value": 4,
        "ratio": 0.5, "target": "ratio >= 1", "met": False,
    }  # fmt: skip
