"""Benchmarks of the LLB Voice service: each script prints one JSON object per measurement."""
