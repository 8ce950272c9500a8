"""Benchmarks of the LLB Voice service: each script prints one JSON object per measurement."""

import llb  # noqa: F401  (one OpenBLAS thread, as in the service; before numpy is imported)
