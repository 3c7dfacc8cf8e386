"""The platform's own data on our objects: ``metadata`` and ``external_reference``.

Orders (escrow), advances (financing) and webhook endpoints carry both, with Stripe's rules,
checked here once for every service:

- ``metadata``: at most 50 keys, a key 1 to 40 characters, a value a string of at most 500.
  On create it is the object's metadata; on update it is *merged*: the keys given are set,
  a key set to ``""`` is removed, the keys not given stay. The limits hold for the result.
  Anything else (a number, ``null``, a list, too many keys) is ``InvalidMetadata``, a
  ``400 invalid_metadata`` naming the offending key in ``details``; nothing is changed.
- ``external_reference``: the platform's own id for the object (its order number, its
  ledger reference), 1 to 255 characters, unique per tenant and kind of object: a second
  object of the tenant with the same one is ``DuplicateExternalReference``, a
  ``409 duplicate_external_reference``. Repositories enforce it with a unique index, so two
  concurrent creates cannot both win.

Pure: the HTTP answers are ``shared/http/errors.py``'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import Field, WithJsonSchema

MAX_KEYS = 50
MAX_KEY_LENGTH = 40
MAX_VALUE_LENGTH = 500
MAX_REFERENCE_LENGTH = 255

Metadata = dict[str, str]


class InvalidMetadata(ValueError):
    code = "invalid_metadata"

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key

    @property
    def details(self) -> dict[str, object]:
        return {"param": "metadata", **({"key": self.key} if self.key is not None else {})}


class DuplicateExternalReference(Exception):
    code = "duplicate_external_reference"

    def __init__(self, kind: str, external_reference: str) -> None:
        super().__init__(
            f"another {kind} of this tenant has external_reference {external_reference!r}"
        )
        self.kind = kind
        self.external_reference = external_reference


def _changes(raw: object) -> Metadata:
    """``raw`` as metadata changes: string keys and values within the limits ("" allowed)."""
    if not isinstance(raw, Mapping):
        raise InvalidMetadata("metadata must be an object of string keys and string values")
    if len(raw) > MAX_KEYS:
        raise InvalidMetadata(f"metadata holds at most {MAX_KEYS} keys, not {len(raw)}")
    out: Metadata = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not 1 <= len(key) <= MAX_KEY_LENGTH:
            raise InvalidMetadata(f"a metadata key has 1 to {MAX_KEY_LENGTH} characters", key)
        if not isinstance(value, str):
            raise InvalidMetadata(f"metadata value of {key!r} must be a string", key)
        if len(value) > MAX_VALUE_LENGTH:
            raise InvalidMetadata(
                f"metadata value of {key!r} has more than {MAX_VALUE_LENGTH} characters", key
            )
        out[key] = value
    return out


def merge_metadata(current: Mapping[str, str], raw: object) -> Metadata:
    """``current`` updated by ``raw`` with Stripe's semantics ("" removes a key)."""
    merged = dict(current)
    for key, value in _changes(raw).items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    if len(merged) > MAX_KEYS:
        raise InvalidMetadata(f"metadata would hold {len(merged)} keys; at most {MAX_KEYS}")
    return merged


def new_metadata(raw: object | None) -> Metadata:
    """The metadata of a new object (None: none); a key set to "" is simply not set."""
    return {} if raw is None else merge_metadata({}, raw)


# What the API schemas declare (an object of strings), while taking any JSON value, so that
# every problem with it is refused here, with its code (a typed field would be FastAPI's 422).
MetadataInput = Annotated[
    Any,
    WithJsonSchema(
        {
            "type": "object",
            "maxProperties": MAX_KEYS,
            "propertyNames": {"minLength": 1, "maxLength": MAX_KEY_LENGTH},
            "additionalProperties": {"type": "string", "maxLength": MAX_VALUE_LENGTH},
            "description": f'up to {MAX_KEYS} keys of your own; on update "" removes a key',
            "examples": [{"erp_order": "PO-2291", "region": "emea"}],
        }
    ),
]
ExternalReference = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_REFERENCE_LENGTH,
        description="your own id for this object, unique among this tenant's",
        examples=["PO-2026-0042"],
    ),
]
