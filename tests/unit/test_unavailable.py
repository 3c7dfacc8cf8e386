"""Which failures say "the database cannot be used now" (retry later), and which do not."""

from __future__ import annotations

import sqlalchemy.exc

from shared.db import is_unavailable


def test_a_connection_invalidated_inside_its_transaction_is_an_outage() -> None:
    """The short chaos run found a consumer dead on this: a statement after its connection
    was invalidated mid-batch (the batch's savepoint had swallowed the cut) raised
    PendingRollbackError, which nobody took for an outage, so the process exited instead of
    rewinding the batch."""
    exc = sqlalchemy.exc.PendingRollbackError(
        "Can't reconnect until invalid transaction is rolled back.  Please rollback() fully "
        "before proceeding"
    )
    assert is_unavailable(exc)


def test_a_programming_error_is_not_an_outage() -> None:
    assert not is_unavailable(ValueError("a bug"))
    assert not is_unavailable(sqlalchemy.exc.PendingRollbackError("some other misuse"))


def test_a_raw_connection_keeps_the_urls_tls_mode() -> None:
    """SQLAlchemy's asyncpg URL says ``ssl=``; a raw asyncpg DSN must say ``sslmode=`` (an
    unknown parameter would be sent to the server as a setting, and refused)."""
    from shared.db import asyncpg_dsn

    plain = asyncpg_dsn("postgresql+asyncpg://u:p@127.0.0.1:5432/db?ssl=disable")
    assert plain == "postgresql://u:p@127.0.0.1:5432/db?sslmode=disable"
    assert asyncpg_dsn("postgresql+asyncpg://u:p@h/db") == "postgresql://u:p@h/db"


def test_a_process_started_during_a_broker_outage_waits_as_long_as_for_the_database():
    """A relay restarted during a 71 s broker restart (a fault-injection run) exited: the Kafka
    wait was 60 s while the database's was 600 s. Both now wait the same, well past that."""
    import inspect

    from shared.runtime import (
        OUTAGE_PATIENCE_SECONDS,
        while_database_unavailable,
        while_kafka_unreachable,
    )

    def default(f):
        return inspect.signature(f).parameters["within"].default

    assert default(while_kafka_unreachable) == default(while_database_unavailable)
    assert default(while_kafka_unreachable) == OUTAGE_PATIENCE_SECONDS >= 300
