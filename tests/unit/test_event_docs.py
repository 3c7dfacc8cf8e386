"""The published event contract (docs/events) is generated from the models and kept current."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from shared.events.registry import REGISTRY, load_all_catalogs
from shared.events.schema import asyncapi, json_schemas, superseded_schemas

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


def test_superseded_versions_stay_documented() -> None:
    """Events of an older version may still be on a topic: their schema stays published."""
    old = superseded_schemas()
    assert ("escrow.milestone_released", 1) in {(t, s["x-event-version"]) for t, s in old}
    for event_type, schema in old:
        path = DOCS / "schemas" / f"{event_type}.v{schema['x-event-version']}.json"
        assert json.loads(path.read_text()) == json.loads(json.dumps(schema)), HINT
        assert schema["x-superseded-by"] == json_schemas()[event_type]["x-event-version"]
    messages = asyncapi()["components"]["messages"]
    assert messages["escrow_milestone_released_v1"]["payload"]["x-superseded-by"] == 3
    assert messages["escrow_milestone_released"]["payload"]["x-event-version"] == 3
