"""Use cases: load an escrow, let the domain decide, commit state + events + timers together."""
