"""Financing's use cases: commands, consumed events and timers, on its unit of work."""
