"""The request guard's scans, without a server: depth without recursion, characters."""

from __future__ import annotations

import time

import pytest

from shared.http.guard import Refusal, check_body, json_depth


def test_depth_counts_brackets_outside_strings_only() -> None:
    assert json_depth(b"{}") == 1
    assert json_depth(b'{"a": [1, {"b": []}]}') == 4
    assert json_depth(b'{"a": "[[[[{{{{", "b": "\\"[["}') == 1
    assert json_depth(b"[" * 100_000 + b"]" * 100_000) == 100_000
    assert json_depth(b'"just a string"') == 0


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32"])
@pytest.mark.parametrize("first", ['"\\""', '"\u2200"'], ids=["escaped quote", "for all"])
def test_depth_is_counted_in_the_encoding_json_reads(first: str, encoding: str) -> None:
    """JSON may come in UTF-16 or 32 (json.loads reads them): there a quote byte can follow
    an escape's backslash or sit inside another character (U+2200 is 22 00 in UTF-16-BE),
    so strings are found in the decoded text, not in the bytes."""
    text = f"[{first}, " + "[" * 100 + "]" * 100 + ', "x"]'
    assert json_depth(text.encode(encoding)) == 101
    with pytest.raises(Refusal) as refused:
        check_body(text.encode(encoding), "application/json", max_depth=32)
    assert b"invalid_json" in refused.value.response.body


@pytest.mark.parametrize(
    ("body", "content_type", "code"),
    [
        (b"[" * 33 + b"]" * 33, "application/json", "invalid_json"),
        (b'{"a": ', "application/json", "invalid_json"),
        (b'{"a": "\\u0000"}', "application/problem+json", "invalid_characters"),
        (b'{"\\u001b": 1}', "", "invalid_characters"),
        (b'["\\ud83d"]', "application/json", "invalid_characters"),
        (b'["a\xed\xa0\x80"]', "application/json", "invalid_characters"),  # raw, no escape
        (b"id,memo\n1,a\x00b\n", "text/csv", "invalid_characters"),
        (b"id,memo\n1,a\x00b\n", "", "invalid_characters"),
        (b"id,memo\n1,a\x07b\n", "application/octet-stream", "invalid_characters"),
    ],
)
def test_refusals(body: bytes, content_type: str, code: str) -> None:
    with pytest.raises(Refusal) as refused:
        check_body(body, content_type, max_depth=32)
    assert refused.value.response.status_code == 400
    assert code.encode() in refused.value.response.body


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"[" * 32 + b"]" * 32, "application/json"),
        (b'{"memo": "tab\\there\\nnew line\\r", "emoji": "\\ud83d\\udea2 \xe2\x80\xae"}', ""),
        (b"id,memo\r\n1,tab\there\r\n", "text/csv; charset=utf-8"),
        (b"\xff\x00\x01 binary", "application/octet-stream"),
        (b"a,b\n1,2\n", ""),  # no content type and not JSON-looking: text, and clean
    ],
)
def test_what_passes(body: bytes, content_type: str) -> None:
    check_body(body, content_type, max_depth=32)


@pytest.mark.parametrize("tail", ["", "\\"], ids=["unterminated", "trailing backslash"])
def test_an_unterminated_string_full_of_escaped_quotes_is_judged_in_linear_time(tail: str) -> None:
    """Every escaped quote of an unterminated string started a new attempt to match a
    string, each running to the end of the body: 32 KB kept the guard (and with it the
    process's event loop, before any authentication) busy for 16 s, 1 MiB for hours."""
    for size in (16_000, 1_048_000):
        body = ('["' + '\\"' * (size // 2) + tail).encode()
        started = time.perf_counter()
        with pytest.raises(Refusal) as refused:
            check_body(body, "application/json", max_depth=32)
        assert time.perf_counter() - started < 0.5, f"{len(body)} bytes"
        assert b"invalid_json" in refused.value.response.body
    assert json_depth('["\\"[[[[') == 1  # what follows an unterminated quote is in the string
