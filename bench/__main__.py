"""``python -m bench``: run every benchmark, print its figures, write bench/results/latest.json."""

from __future__ import annotations

import asyncio

from bench import backbone_bench, consumer_bench, ingest_bench, ledger_bench
from bench.results import Results


def main() -> None:
    results = Results()
    results.add(*asyncio.run(backbone_bench.main()))
    results.add(*asyncio.run(ledger_bench.main()))
    results.add(*asyncio.run(consumer_bench.main()))
    results.add(*asyncio.run(ingest_bench.main()))
    path = results.write()
    results.show()
    print(f"figures written to {path}")


if __name__ == "__main__":
    main()
