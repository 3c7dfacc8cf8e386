"""CPU per keyed create, in process: for before/after ratios on a noisy shared machine.

The escrow app's ASGI callable driven by httpx's ASGITransport (no server, no sockets to
the app), on PostgreSQL: ``N`` creates with ``Idempotency-Key`` (the api bench's order), at
concurrency ``C``, after 200 to warm the pools and statement caches. Prints the process's
CPU milliseconds per create (the app and the client; PostgreSQL's CPU is not in it) and
creates per second, once per round. Not part of ``make bench``: run it on two trees in
turn (an earlier commit exported with ``git archive``, and this one) and read the ratio.

    PYTHONPATH=$PWD python -m bench.api_inproc prep          # databases and an API key
    PYTHONPATH=<tree> python -m bench.api_inproc run 400 8 2  # per tree, interleaved
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

STATE = Path(os.environ.get("API_INPROC_STATE", "/tmp/tradeflow-api-inproc.json"))


async def prep() -> dict[str, Any]:
    from bench.stack import BenchStack

    stack = BenchStack()
    await stack.prepare(["escrow"])
    key = await stack.api_key("bench-api", "platform")
    wanted = ("TRADEFLOW_", "DATABASE_URL", "KAFKA", "STRIPE")
    env = {k: v for k, v in stack.env().items() if k.startswith(wanted)}
    return {"env": env, "key": key}


async def run(state: dict[str, Any], n: int, concurrency: int, rounds: int) -> None:
    os.environ.update(state["env"])
    import httpx

    from bench.api_bench import ORDER
    from services.escrow.bootstrap import DEFINITION
    from services.runner import create_app
    from shared.logging import configure_logging
    from shared.settings import Settings

    settings = Settings()
    configure_logging("escrow", settings.log_level, settings.log_json)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    app = create_app(DEFINITION, settings)
    out = []
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:

            async def burst(k: int) -> None:
                todo = iter(range(k))

                async def worker() -> None:
                    for _ in todo:
                        key = {**state["key"], "Idempotency-Key": str(uuid.uuid4())}
                        r = await client.post("/v1/orders", json=ORDER, headers=key)
                        if r.status_code != 201:
                            raise RuntimeError(r.text)

                await asyncio.gather(*(worker() for _ in range(concurrency)))

            await burst(200)
            for _ in range(rounds):
                wall, cpu = time.perf_counter(), time.process_time()
                await burst(n)
                cpu_ms = (time.process_time() - cpu) / n * 1000
                out.append((round(cpu_ms, 3), round(n / (time.perf_counter() - wall))))
    print(
        json.dumps(
            {
                "tree": os.environ.get("PYTHONPATH"),
                "cpu_ms_per_create": [c for c, _ in out],
                "creates_per_s": [r for _, r in out],
            }
        )
    )


if __name__ == "__main__":
    if sys.argv[1] == "prep":
        STATE.write_text(json.dumps(asyncio.run(prep())))
    else:
        given = json.loads(STATE.read_text())
        asyncio.run(run(given, int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])))
