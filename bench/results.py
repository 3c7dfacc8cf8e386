"""The figures a benchmark reports, and the one file they all go to.

Every figure is measured in the same run as its baseline (the machine is 2 cores, shared and
noisy): read ``ratio`` (value / baseline_value), not the absolute values. ``target`` is the
issue's goal in words (e.g. ">= 10000"); ``met`` says whether this run reached it. No test
asserts on any of it: `make bench` reports.
"""

from __future__ import annotations

import json
import operator
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

RESULTS = Path(os.environ.get("TRADEFLOW_BENCH_RESULTS", "bench/results/latest.json"))
_OPS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt}


@dataclass
class Figure:
    name: str
    value: float
    unit: str
    baseline_name: str | None = None
    baseline_value: float | None = None
    target: str | None = None  # ">= 10000" on value, or "ratio >= 5"
    note: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.baseline_value in (None, 0):
            return None
        assert self.baseline_value is not None
        return self.value / self.baseline_value

    @property
    def met(self) -> bool | None:
        if not self.target:
            return None
        results = []
        for part in self.target.split(" and "):
            m = re.fullmatch(r"\s*(ratio\s+)?(>=|<=|>|<)\s*([\d.]+)\s*", part)
            if m is None:
                return None
            subject = self.ratio if m.group(1) else self.value
            if subject is None:
                return None
            results.append(_OPS[m.group(2)](subject, float(m.group(3))))
        return all(results)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio, "met": self.met}


@dataclass
class Results:
    figures: list[Figure] = field(default_factory=list)

    def add(self, *figures: Figure) -> None:
        self.figures.extend(figures)

    def write(self, path: Path = RESULTS) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps([f.to_json() for f in self.figures], indent=2) + "\n")
        return path

    def show(self, console: Console | None = None) -> None:
        table = Table(title="make bench (ratios are within this run)")
        for col in ("figure", "value", "baseline", "ratio", "target", "met"):
            table.add_column(col, justify="right" if col in ("value", "ratio") else "left")
        for f in self.figures:
            baseline = (
                f"{f.baseline_name} {f.baseline_value:,.1f}" if f.baseline_value is not None else ""
            )
            met = {True: "[green]yes[/]", False: "[red]no[/]", None: ""}[f.met]
            ratio = f"{f.ratio:.2f}" if f.ratio is not None else ""
            table.add_row(f.name, f"{f.value:,.1f} {f.unit}", baseline, ratio, f.target or "", met)
        (console or Console()).print(table)
