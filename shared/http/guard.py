"""What every request must pass before anything reads it: size, JSON shape, characters.

The guard is the outermost piece of every service app that looks at input (it runs before
the idempotency middleware, which reads and fingerprints bodies, and before the routes), so
each class of bad input below is refused once, here, with a typed 4xx and no effect:

- a body larger than ``Settings.max_request_body_bytes`` (1 MiB): ``413 payload_too_large``,
  from the Content-Length before a byte is read, or as soon as a stream passes the limit;
- a JSON body nested deeper than ``Settings.max_json_depth`` (32): ``400 invalid_json``,
  found by a scan that does not recurse, before any parser could; a JSON body that does
  not parse (or is not UTF-8/16/32): ``400 invalid_json``;
- C0 control characters (U+0000 to U+001F) and unpaired surrogates, which PostgreSQL
  refuses or cannot encode and no id or text of these APIs needs:
  ``400 invalid_characters`` anywhere in the path or the query string, in header values
  (tab allowed), and in JSON strings, JSON keys and text bodies (tab, line feed and carriage
  return allowed there).

A body is JSON when its Content-Type says so (``application/json``, ``*/*+json``; of two
Content-Type headers the first, the one FastAPI parses the body by), and also when there is
no Content-Type and it starts with ``{`` or ``[`` (FastAPI reads such a body as no JSON at
all, a 422, but it is checked as JSON all the same). Any other body that decodes as UTF-8 is
text (e.g. a report CSV, whatever it is labelled) and is checked for characters only; one
that does not is left to the route.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from itertools import accumulate
from urllib.parse import parse_qsl

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.http.errors import error_body
from shared.settings import Settings

_DEFAULTS = Settings.model_fields
DEFAULT_MAX_BODY: int = _DEFAULTS["max_request_body_bytes"].default
DEFAULT_MAX_DEPTH: int = _DEFAULTS["max_json_depth"].default

# In ids, paths and queries nothing below U+0020 is text; in written text \t \n \r are.
_CONTROL = re.compile("[\x00-\x1f\ud800-\udfff]")
_CONTROL_IN_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")
_CONTROL_IN_HEADER = re.compile(b"[\x00-\x08\x0a-\x1f]")
# A JSON string, escapes included, from its quote to the closing one or to the end of the
# text. It matches wherever a quote starts it (the unrolled form, in one pass): one that had
# to close failed to, in an unterminated string, and was tried again from every quote in it,
# each time to the end (quadratic: a 32 KB body of escaped quotes took 16 s). The text an
# unterminated string runs to is in it for json.loads too, which never reads a bracket there.
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)', re.DOTALL)
_SURROGATE = re.compile("[\ud800-\udfff]")
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = [1 if b in b"[{" else -1 for b in range(256)]


class Refusal(Exception):
    def __init__(self, status: int, code: str, message: str, details: object = None) -> None:
        super().__init__(message)
        self.response = JSONResponse(error_body(code, message, details), status_code=status)


def json_text(body: bytes) -> str:
    """The text ``json.loads`` reads from ``body``: UTF-8, 16 or 32, as its first bytes tell
    (a BOM, or where the NUL bytes are), surrogates passed through as ``json.loads`` does."""
    return body.decode(json.detect_encoding(body), "surrogatepass")


def json_depth(body: bytes | str) -> int:
    """How deep the arrays and objects of a JSON text nest, without parsing (or recursing).

    Strings are found in the decoded text, never in the bytes: in UTF-16 or 32 a quote byte
    follows an escape's backslash (``\\"`` is 5C 00 22 00) or sits inside another character
    (U+2200 is 22 00 in UTF-16-BE), and a scan of the bytes would lose track of them."""
    text = body if isinstance(body, str) else json_text(body)
    outside = _JSON_STRING.sub("", text).encode("utf-8", "surrogatepass")
    brackets = outside.translate(None, _NOT_BRACKET)
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


def _strings(value: object) -> Iterator[tuple[list[str | int], str]]:
    """Every key and string of a parsed JSON value, with where it is (iterative)."""
    stack: list[tuple[list[str | int], object]] = [([], value)]
    while stack:
        at, item = stack.pop()
        if isinstance(item, str):
            yield at, item
        elif isinstance(item, dict):
            for key, child in item.items():
                yield [*at, key], key
                stack.append(([*at, key], child))
        elif isinstance(item, list):
            stack.extend(([*at, i], child) for i, child in enumerate(item))


def _refuse_characters(where: str, name: object = None) -> Refusal:
    return Refusal(
        400,
        "invalid_characters",
        f"control characters (or unpaired surrogates) are not accepted in the {where}",
        {"location": where, "field": name} if name is not None else {"location": where},
    )


def check_target(scope: Scope) -> None:
    """The path, the query string and the header values."""
    if _CONTROL.search(scope.get("path", "")):
        raise _refuse_characters("path")
    query = scope.get("query_string", b"").decode("latin-1")
    for key, value in parse_qsl(query, keep_blank_values=True):
        if _CONTROL.search(key) or _CONTROL.search(value):
            raise _refuse_characters("query", key)
    for name, value in scope.get("headers", []):
        if _CONTROL_IN_HEADER.search(value):
            raise _refuse_characters("header", name.decode("latin-1"))


def _is_json(content_type: str, body: bytes) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    if not media:
        return body.lstrip()[:1] in (b"{", b"[")
    return media == "application/json" or media.endswith("+json")


def check_body(body: bytes, content_type: str, max_depth: int) -> None:
    if not body:
        return
    if _is_json(content_type, body):
        try:
            text = json_text(body)
        except UnicodeDecodeError as exc:
            raise Refusal(400, "invalid_json", f"the body is not valid JSON: {exc}") from None
        if json_depth(text) > max_depth:
            raise Refusal(
                400, "invalid_json", f"JSON may nest at most {max_depth} levels deep",
                {"max_depth": max_depth},
            )  # fmt: skip
        try:
            value = json.loads(text)
        except (ValueError, RecursionError) as exc:  # deep nesting cannot get here, but never a 500
            raise Refusal(400, "invalid_json", f"the body is not valid JSON: {exc}") from None
        # A raw control character is no JSON: in a string it comes as an escape. A surrogate
        # may also come raw (encoded in UTF-8), which json.loads passes through.
        if "\\" in text or _SURROGATE.search(text):
            for at, string in _strings(value):
                if _CONTROL_IN_TEXT.search(string):
                    raise _refuse_characters("body", at)
    else:
        try:
            text = body.decode("utf-8-sig")
        except UnicodeDecodeError:
            return  # not text: the route says what it expects (e.g. 422 invalid_report)
        if _CONTROL_IN_TEXT.search(text):
            raise _refuse_characters("body")


def _limits(scope: Scope) -> tuple[int, int]:
    """The service's own limits once it started (its container's settings), else defaults."""
    app = scope.get("app")
    container = getattr(getattr(app, "state", None), "container", None)
    settings = getattr(getattr(container, "runtime", None), "settings", None)
    if isinstance(settings, Settings):
        return settings.max_request_body_bytes, settings.max_json_depth
    return DEFAULT_MAX_BODY, DEFAULT_MAX_DEPTH


def _too_large(limit: int) -> Refusal:
    return Refusal(
        413, "payload_too_large", f"the body may be at most {limit} bytes", {"max_bytes": limit}
    )


class RequestGuardMiddleware:
    """ASGI middleware: refuses what the module docstring lists, passes the rest on unchanged."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_body, max_depth = _limits(scope)
        # Read as the app reads them (Starlette, so FastAPI): of a header sent twice, the
        # first. Judging the body by another Content-Type than the one FastAPI parses it by
        # would let a JSON body through as "text", unchecked.
        headers = Headers(scope=scope)
        try:
            check_target(scope)
            declared = headers.get("content-length", "").strip()
            if declared.isdigit() and int(declared) > max_body:
                raise _too_large(max_body)
            body = await _read_body(receive, max_body)
            if body is None:
                return  # the client went away before sending its body
            check_body(body, headers.get("content-type", ""), max_depth)
        except Refusal as refusal:
            await refusal.response(scope, receive, send)
            return
        await self.app(scope, _replaying(body, receive), send)


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """The body already read, then whatever the client sends next (its disconnect)."""
    pending = True

    async def replay() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
