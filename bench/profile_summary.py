"""A readable summary of a ``py-spy record --format raw`` profile (collapsed stacks).

Each line of the raw format is ``frame;frame;...;leaf count``, a frame being
``function (file:line)``. The summary gives the share of all samples each function is on the
stack of (inclusive) and at the top of (self), with the line numbers folded away, plus the
share spent idle in the event loop's ``select`` (the process waiting for PostgreSQL or Kafka).
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")
_MARKERS = ("process ", "thread (")  # py-spy's --threads / --subprocesses frames
IDLE_LEAVES = (
    "select (selectors.py)",
    "EpollSelector.select (selectors.py)",
    "poll (selectors.py)",
)


def _name(frame: str) -> str:
    m = _FRAME.match(frame.strip())
    if m is None:
        return frame.strip()
    path = m.group("file")
    for marker in ("site-packages/", "/work/", "lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{m.group('func')} ({path.rsplit('/', 1)[-1] if '/' in path else path})"


def summarize(raw: str, top: int = 30) -> str:
    inclusive: Counter[str] = Counter()
    leaf: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [_name(f) for f in stack.split(";") if not f.startswith(_MARKERS)]
        if not frames:
            continue
        total += n
        leaf[frames[-1]] += n
        for name in set(frames):
            inclusive[name] += n
    if not total:
        return "no samples\n"
    idle = sum(leaf[name] for name in IDLE_LEAVES)
    out = [f"{total} samples; idle in the event loop's select: {idle / total:.1%}", ""]
    out.append("inclusive (on the stack):")
    out += [f"  {n / total:6.1%}  {name}" for name, n in inclusive.most_common(top)]
    out += ["", "self (top of the stack):"]
    out += [f"  {n / total:6.1%}  {name}" for name, n in leaf.most_common(top)]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(summarize(Path(sys.argv[1]).read_text()))
