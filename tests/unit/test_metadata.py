"""metadata and external_reference (shared/metadata.py): Stripe's limits and merge rules."""

from __future__ import annotations

import pytest

from shared.metadata import InvalidMetadata, merge_metadata, new_metadata


def test_an_update_merges_keys_and_an_empty_value_removes_one() -> None:
    current = {"a": "1", "b": "2"}
    assert merge_metadata(current, {"b": "", "c": "3"}) == {"a": "1", "c": "3"}
    assert merge_metadata(current, {}) == current
    assert merge_metadata(current, {"zz": ""}) == current  # removing an absent key is fine
    assert current == {"a": "1", "b": "2"}  # not changed in place


def test_new_metadata_skips_empty_values() -> None:
    assert new_metadata(None) == {} and new_metadata({"a": "", "b": "x"}) == {"b": "x"}


def test_the_limits_are_stripes_and_hold_exactly_at_the_edge() -> None:
    fifty = {f"k{i}": "v" for i in range(50)}
    assert new_metadata(fifty) == fifty
    assert new_metadata({"k" * 40: "v" * 500}) == {"k" * 40: "v" * 500}


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({f"k{i}": "v" for i in range(51)}, None),
        ({"k" * 41: "v"}, "k" * 41),
        ({"": "v"}, ""),
        ({"k": "v" * 501}, "k"),
        ({"k": 1}, "k"),
        ({"k": None}, "k"),
        ({"k": ["v"]}, "k"),
        (["k"], None),
        ("k=v", None),
    ],
)
def test_bad_metadata_is_refused_naming_the_key(raw: object, key: str | None) -> None:
    with pytest.raises(InvalidMetadata) as caught:
        new_metadata(raw)
    assert caught.value.key == key and caught.value.code == "invalid_metadata"


def test_a_merge_may_not_grow_past_fifty_keys_but_may_swap_keys_at_fifty() -> None:
    fifty = {f"k{i}": "v" for i in range(50)}
    with pytest.raises(InvalidMetadata):
        merge_metadata(fifty, {"one_more": "v"})
    assert len(merge_metadata(fifty, {"k0": "", "new": "v"})) == 50
