"""docs/webhooks.md names every event type an endpoint can receive."""

from __future__ import annotations

from pathlib import Path

from services.webhooks.service_layer.commands import event_catalogue
from shared.events.registry import CATALOGS

DOC = Path(__file__).resolve().parents[3] / "docs" / "webhooks.md"


def test_the_catalogue_lists_every_event_type() -> None:
    text = DOC.read_text()
    ours = [t for t in event_catalogue() if t.partition(".")[0] in (*CATALOGS, "webhook")]
    missing = [t for t in sorted(ours) if f"| `{t}` |" not in text]  # not tests' own types
    assert not missing, f"docs/webhooks.md lacks {missing}"
