"""Peak memory of every service process under the benchmarks' load.

The figure is the largest peak resident set size (the kernel's high-water mark, VmHWM,
read at the end of the load, so no peak between samples is missed) among the processes of
the ``api_create_escrow`` and ``e2e_latency`` runs; each process is in ``details``. The
baseline is the largest peak of the same processes right after they started and became
ready, before any load: the ratio is how much the load added.
"""

from __future__ import annotations

from collections.abc import Mapping

from bench.results import Figure

MB = 1024 * 1024


def figure(runs: Mapping[str, Mapping[str, int]], idle: Mapping[str, int]) -> Figure:
    """``runs``: per benchmark, each process's peak RSS in bytes; ``idle``: after start."""
    peaks = {f"{run}: {name}": rss for run, procs in runs.items() for name, rss in procs.items()}
    largest = max(peaks.values(), default=0)
    worst = max(peaks, key=lambda n: peaks[n], default="")
    for name, rss in sorted(peaks.items()):
        print(f"  peak RSS {name}: {rss / MB:,.1f} MB")
    return Figure(
        "memory",
        largest / MB,
        "MB peak RSS (largest process)",
        "idle after start",
        max(idle.values(), default=0) / MB or None,
        target="< 200",
        note=worst,
        details={name: round(rss / MB, 1) for name, rss in sorted(peaks.items())},
    )
