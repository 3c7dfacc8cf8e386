"""AsyncAPI 3 document and JSON Schemas generated from the registered event models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from shared.events.registry import REGISTRY, EventModel, load_all_catalogs

ENVELOPE_HEADERS = {
    "type": "object",
    "description": "CloudEvents binary-mode attributes carried as Kafka headers",
    "required": ["ce_id", "ce_type", "ce_source", "ce_subject", "ce_time", "ce_specversion"],
    "properties": {
        "ce_id": {"type": "string", "format": "uuid", "description": "event id (UUIDv7)"},
        "ce_type": {"type": "string"},
        "ce_source": {"type": "string", "description": "producing service"},
        "ce_subject": {"type": "string", "description": "aggregate id; also the Kafka key"},
        "ce_time": {"type": "string", "format": "date-time"},
        "ce_specversion": {"const": "1.0"},
        "ce_tfversion": {"type": "string", "description": "event model version"},
        "ce_tftenant": {"type": "string"},
        "ce_tfcorrelation": {"type": "string", "format": "uuid"},
        "ce_tfcausation": {"type": "string", "format": "uuid"},
    },
}


def _schema(model: type[EventModel]) -> dict[str, Any]:
    schema = model.model_json_schema()
    schema["$id"] = f"urn:tradeflow:event:{model.event_type}:v{model.event_version}"
    schema["x-event-version"] = model.event_version
    return schema


def json_schemas() -> dict[str, dict[str, Any]]:
    """The schema of the current version of every event type."""
    load_all_catalogs()
    return {
        event_type: _schema(model)
        for event_type, model in REGISTRY.types().items()
        if not event_type.startswith("test.")
    }


def superseded_schemas() -> list[tuple[str, dict[str, Any]]]:
    """(event type, schema) of the older versions consumers still accept (they upcast them
    to the current one): events of them may still be on the topics."""
    load_all_catalogs()
    out = []
    for model in REGISTRY.superseded():
        if model.event_type.startswith("test."):
            continue
        schema = _schema(model)
        schema["x-superseded-by"] = REGISTRY.model(model.event_type).event_version
        out.append((model.event_type, schema))
    return out


def _message(event_type: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": event_type,
        "title": schema.get("title", event_type),
        "summary": (schema.get("description") or "").split("\n")[0],
        "contentType": "application/json",
        "headers": ENVELOPE_HEADERS,
        "payload": schema,
    }


def asyncapi(topic_prefix: str = "tradeflow") -> dict[str, Any]:
    schemas = json_schemas()
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for event_type, schema in [*schemas.items(), *superseded_schemas()]:
        service = event_type.partition(".")[0]
        name = event_type.replace(".", "_")
        message = _message(event_type, schema)
        if "x-superseded-by" in schema:  # still accepted, no longer produced
            name = f"{name}_v{schema['x-event-version']}"
            message["description"] = (
                f"Version {schema['x-event-version']}, superseded by version "
                f"{schema['x-superseded-by']}: no longer produced; consumers upcast it."
            )
        messages[name] = message
        channel = channels.setdefault(
            service,
            {"address": f"{topic_prefix}.{service}.events", "messages": {}},
        )
        channel["messages"][name] = {"$ref": f"#/components/messages/{name}"}
    for service in channels:
        operations[f"publish_{service}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{service}"},
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Tradeflow events",
            "version": "1.0.0",
            "description": "Events between the escrow, ledger and financing services. "
            "Kafka key = subject; body = JSON data; envelope in ce_* headers.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def write_docs(out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / "asyncapi.yaml"]
    written[0].write_text(yaml.safe_dump(asyncapi(), sort_keys=False, width=100))
    schema_dir = out_dir / "schemas"
    schema_dir.mkdir(exist_ok=True)
    for event_type, schema in [*json_schemas().items(), *superseded_schemas()]:
        path = schema_dir / f"{event_type}.v{schema['x-event-version']}.json"
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written
