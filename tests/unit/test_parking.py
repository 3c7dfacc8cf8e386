"""Which dead letters a replay republishes (shared.parking.held_back)."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest
from aiokafka.structs import ConsumerRecord

from shared.parking import DeadLetter, held_back


def letter(event: UUID | None, error: str = "Boom", offset: int = 0) -> DeadLetter:
    headers = {"dlq_error_type": error.encode(), "dlq_offset": str(offset).encode()}
    if event is not None:
        headers["ce_id"] = str(event).encode()
    record: ConsumerRecord[bytes, bytes] = ConsumerRecord(
        "dlq", 0, offset, 0, 0, b"s", b"{}", None, 1, 2, list(headers.items())
    )
    return DeadLetter(record, headers)


def test_the_letters_of_an_earlier_parking_that_was_replayed_are_not_sent_again() -> None:
    e1, e2, e4, e5 = uuid4(), uuid4(), uuid4(), uuid4()
    letters = [letter(e1), letter(e2, "SubjectParked"), letter(e4), letter(e5, "SubjectParked")]
    assert held_back(letters, e4, f"event {e4} failed: Boom") == letters[2:]


def test_a_cause_sent_twice_by_a_rewound_batch_replays_from_its_last_letter() -> None:
    e1, e2, e3 = uuid4(), uuid4(), uuid4()
    letters = [letter(e1), letter(e2, "SubjectParked"), letter(e1), letter(e2, "SubjectParked"),
               letter(e3, "SubjectParked")]  # fmt: skip
    assert held_back(letters, e1, f"event {e1} failed: Boom") == letters[2:]


def test_a_subject_parked_behind_a_record_that_was_no_event_starts_at_that_record() -> None:
    e2 = uuid4()
    letters = [letter(None, "EnvelopeError", 3), letter(e2, "SubjectParked", 4),
               letter(None, "EnvelopeError", 9)]  # fmt: skip
    assert held_back(letters, None, "event at offset 3 failed: EnvelopeError: x") == letters


def test_a_parking_whose_letter_cannot_be_found_replays_nothing() -> None:
    with pytest.raises(LookupError):
        held_back([letter(uuid4())], uuid4(), "event x failed")
