"""AsyncAPI 3 document and JSON Schemas generated from the registered event models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from shared.events.registry import REGISTRY, load_all_catalogs

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


def json_schemas() -> dict[str, dict[str, Any]]:
    load_all_catalogs()
    out = {}
    for event_type, model in REGISTRY.types().items():
        if event_type.startswith("test."):
            continue
        schema = model.model_json_schema()
        schema["$id"] = f"urn:tradeflow:event:{event_type}:v{model.event_version}"
        schema["x-event-version"] = model.event_version
        out[event_type] = schema
    return out


def asyncapi(topic_prefix: str = "tradeflow") -> dict[str, Any]:
    schemas = json_schemas()
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for event_type, schema in schemas.items():
        service = event_type.partition(".")[0]
        name = event_type.replace(".", "_")
        messages[name] = {
            "name": event_type,
            "title": schema.get("title", event_type),
            "summary": (schema.get("description") or "").split("\n")[0],
            "contentType": "application/json",
            "headers": ENVELOPE_HEADERS,
            "payload": schema,
        }
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
    for event_type, schema in json_schemas().items():
        path = schema_dir / f"{event_type}.v{schema['x-event-version']}.json"
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written
