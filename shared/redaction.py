"""Known secret shapes, masked: the second line of defence behind never logging a secret.

The first line is the code: no log call carries a key, a header or a Stripe secret. This
catches what slips through anyway, for instance a client that puts its key in a query
string (uvicorn's access log prints the path), or a Stripe error that echoes the
Authorization header (stripe-mock does). ``redact_secrets`` is a structlog processor that
every log line passes, structlog's and the standard library's (``shared.logging``);
``redact`` is for failure reasons that are stored (dead letters, parked subjects).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from structlog.typing import EventDict, WrappedLogger

REDACTED = "[REDACTED]"

_SHAPES = re.compile(
    r"(?<![A-Za-z0-9])(?:"
    r"tf_[A-Za-z0-9_-]{16,}"  # Tradeflow API keys (shared.identity.keys.RAW_KEY)
    r"|whsec_[A-Za-z0-9_+/=-]+"  # webhook signing secrets: Stripe's, and ours (base64)
    r"|[sr]k_(?:test|live)_[A-Za-z0-9_]+"  # Stripe secret and restricted keys
    r")"
)
_AUTHORIZATION = re.compile(r"\b(Bearer|Basic)\s+[^\s'\",;]+", re.IGNORECASE)
_URL_PASSWORD = re.compile(r"(://[^:/@\s]+:)[^@\s]+@")
# A ``token`` query parameter (the console's sign-in links): usable until it is used or ends.
_URL_TOKEN = re.compile(r"([?&]token=)[^&\s\"'#]+")

# Fields whose value is a secret whatever it looks like.
SECRET_FIELDS = frozenset(
    {
        "authorization",
        "api_key",
        "apikey",
        "x-api-key",
        "password",
        "secret",
        "client_secret",
        "webhook_secret",
        "stripe_api_key",
        "stripe_webhook_secret",
        "token",
    }
)


def redact(text: str) -> str:
    text = _SHAPES.sub(REDACTED, text)
    text = _AUTHORIZATION.sub(lambda m: f"{m[1]} {REDACTED}", text)
    text = _URL_TOKEN.sub(lambda m: f"{m[1]}{REDACTED}", text)
    return _URL_PASSWORD.sub(lambda m: f"{m[1]}{REDACTED}@", text)


def redact_value(value: object) -> Any:  # the same shape as value
    """``value`` with every string in it redacted (mappings, sequences, printable objects)."""
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, int | float):
        return value
    if isinstance(value, Mapping):
        return {k: REDACTED if _secret_field(k) else redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_value(v) for v in value]
    text = str(value)  # an object the renderer would print: print it redacted, if need be
    cleaned = redact(text)
    return value if cleaned == text else cleaned


def _secret_field(name: object) -> bool:
    return isinstance(name, str) and name.lower() in SECRET_FIELDS


def redact_secrets(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: every value of the event, nested ones included, redacted."""
    return {
        k: v if k.startswith("_") else REDACTED if _secret_field(k) else redact_value(v)
        for k, v in event_dict.items()
    }
