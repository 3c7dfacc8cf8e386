"""``python -m bench``: run every benchmark and print its figures."""

from __future__ import annotations

import asyncio

from bench import ledger_bench


def main() -> None:
    asyncio.run(ledger_bench.main())


if __name__ == "__main__":
    main()
