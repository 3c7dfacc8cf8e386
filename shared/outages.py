"""A dependency that cannot be reached now, as opposed to an event or request at fault.

An adapter raises ``DependencyUnavailable`` (from the driver's own error) when the service it
talks to cannot be reached: the inbox consumer then rewinds the batch and pauses, as it does
for a database outage, instead of spending the event's few retries and dead-lettering it.
"""

from __future__ import annotations


class DependencyUnavailable(Exception):
    """``what`` (e.g. ``stripe``) could not be reached; the same call may succeed later."""

    def __init__(self, what: str, message: str) -> None:
        super().__init__(f"{what} unreachable: {message}")
        self.what = what
        self.message = message  # what the driver said
