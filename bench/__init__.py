"""Benchmarks (``python -m bench``): throughput figures, never assertions in the test suite."""
