"""LLB Voice's Django project. Importing it first sets what native libraries read once, at start
(`process_env`: one OpenBLAS thread, CTranslate2's widest kernels)."""

from llb import process_env

process_env.apply()
