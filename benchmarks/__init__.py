"""Benchmarks: host-side measurements (benchmarks/*.py) and the on-device harnesses with their shared result
format (benchmarks/device/, see its README.md)."""
