"""shared/faults.py: a named crash point kills the process only when asked, never in production."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from shared import faults

PROGRAM = (
    "from shared.faults import crash_point\n"
    "crash_point('test.somewhere')\n"
    "print('went on', flush=True)\n"
)


def run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("TRADEFLOW_")}
    return subprocess.run(
        [sys.executable, "-c", PROGRAM], env={**base, **env}, capture_output=True, text=True
    )


def test_a_named_point_dies_like_a_sigkilled_process() -> None:
    done = run({"TRADEFLOW_CRASH_AT": "other,test.somewhere", "TRADEFLOW_ENVIRONMENT": "test"})
    assert done.returncode == 137 and "went on" not in done.stdout


def test_other_points_and_an_unset_variable_are_inert() -> None:
    assert run({"TRADEFLOW_CRASH_AT": "other", "TRADEFLOW_ENVIRONMENT": "test"}).returncode == 0
    assert run({"TRADEFLOW_ENVIRONMENT": "development"}).stdout == "went on\n"


def test_production_never_crashes_on_purpose_and_refuses_the_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    done = run({"TRADEFLOW_CRASH_AT": "test.somewhere"})  # production is the default
    assert done.returncode == 0 and done.stdout == "went on\n"
    monkeypatch.setenv("TRADEFLOW_CRASH_AT", "test.somewhere")
    monkeypatch.setenv("TRADEFLOW_ENVIRONMENT", "production")
    with pytest.raises(faults.FaultInjectionRefused):
        faults.refuse_in_production()
    monkeypatch.setenv("TRADEFLOW_ENVIRONMENT", "test")
    faults.refuse_in_production()
