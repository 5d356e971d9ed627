"""Benchmarks: run as modules, e.g. `.venv/bin/python -m bench.bench_guard_overhead`."""
