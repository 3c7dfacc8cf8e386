"""``python -m bench``: run every benchmark and print its figures."""

from __future__ import annotations

import asyncio

from bench import backbone_bench, ledger_bench


def main() -> None:
    asyncio.run(backbone_bench.main())
    asyncio.run(ledger_bench.main())


if __name__ == "__main__":
    main()
