"""The published event contract (docs/events) is generated from the models and kept current."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from shared.events.registry import REGISTRY, load_all_catalogs
from shared.events.schema import asyncapi, json_schemas

DOCS = Path(__file__).resolve().parents[2] / "docs/events"
HINT = "event models changed: regenerate with `tradeflow events` and commit docs/events"


def test_every_registered_event_is_documented() -> None:
    load_all_catalogs()
    documented = set(json_schemas())
    registered = {t for t in REGISTRY.types() if not t.startswith("test.")}
    assert documented == registered
    doc = asyncapi()
    assert doc["asyncapi"].startswith("3.")
    assert {c["address"] for c in doc["channels"].values()} >= {"tradeflow.escrow.events"}


def test_committed_documents_match_the_models() -> None:
    committed = yaml.safe_load((DOCS / "asyncapi.yaml").read_text())
    assert committed == json.loads(json.dumps(asyncapi())), HINT
    for event_type, schema in json_schemas().items():
        path = DOCS / "schemas" / f"{event_type}.v{schema['x-event-version']}.json"
        assert path.exists(), HINT
        assert json.loads(path.read_text()) == json.loads(json.dumps(schema)), HINT
