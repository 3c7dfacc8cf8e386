"""docs/webhooks.md names every event type an endpoint can receive."""

from __future__ import annotations

from pathlib import Path

from services.webhooks.service_layer.commands import event_catalogue

DOC = Path(__file__).resolve().parents[3] / "docs" / "webhooks.md"


def test_the_catalogue_lists_every_event_type() -> None:
    text = DOC.read_text()
    missing = [t for t in sorted(event_catalogue()) if f"| `{t}` |" not in text]
    assert not missing, f"docs/webhooks.md lacks {missing}"
