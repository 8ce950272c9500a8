"""Process-wide settings of native libraries, made before numpy and CTranslate2 start.

- OpenBLAS (numpy's BLAS, used for Whisper's log-mel features) otherwise starts a thread per core
  that spins between calls: a decode loop then burns more than one core for less work
  (docs/decisions/0004).
- CTranslate2 dispatches its own kernels no further than AVX2 unless told (`CT2_FORCE_CPU_ISA`);
  where the CPU has every AVX-512 extension those kernels use, decodes are faster with the same
  words within the noise (docs/decisions/0022).

A value already in the environment always stands.
"""

import os
from pathlib import Path

AVX512_FLAGS = frozenset({"avx512f", "avx512cd", "avx512vl", "avx512dq", "avx512bw"})  # CTranslate2's check


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The instruction-set flags of the first CPU (Linux); none where there is no such file. Read
    up to that line only: the file repeats it for every core, and every process starts here."""
    try:
        with cpuinfo.open() as lines:
            line = next((line for line in lines if line.startswith("flags")), "")
    except OSError:
        return frozenset()
    return frozenset(line.partition(":")[2].split())


def ctranslate2_isa(flags: frozenset[str]) -> str | None:
    """The `CT2_FORCE_CPU_ISA` to set: AVX512 where the CPU has all of it, else CTranslate2's own choice."""
    return "AVX512" if flags >= AVX512_FLAGS else None


def apply() -> None:
    """Set both where the environment does not: CTranslate2 and OpenBLAS read them once, at start."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    if "CT2_FORCE_CPU_ISA" not in os.environ and (isa := ctranslate2_isa(cpu_flags())):
        os.environ["CT2_FORCE_CPU_ISA"] = isa
