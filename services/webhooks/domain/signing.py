"""Signatures of the Standard Webhooks specification (https://www.standardwebhooks.com).

``webhook-signature`` is ``v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">``, one per
secret in force, separated by spaces: during a rotation's overlap the old secret signs too,
so a receiver that still verifies with it accepts the delivery. Secrets are ``whsec_`` and
the base64 of 32 random bytes, as the ``standardwebhooks`` library reads them.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from datetime import datetime

from standardwebhooks.webhooks import Webhook

PREFIX = "whsec_"


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def signature_header(secrets_in_force: Sequence[str], msg_id: str, at: datetime, body: str) -> str:
    return " ".join(Webhook(s).sign(msg_id, at, body) for s in secrets_in_force)


def headers(
    secrets_in_force: Sequence[str], msg_id: str, at: datetime, body: str
) -> dict[str, str]:
    """The three headers of a delivery sent at ``at``."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature_header(secrets_in_force, msg_id, at, body),
    }
