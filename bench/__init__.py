"""Benchmarks: speed of the analyzers on this machine (make bench)."""
