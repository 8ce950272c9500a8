"""The process-wide settings `llb.process_env` makes (on importing llb) before numpy and CTranslate2 start."""

import os
import subprocess
import sys
from pathlib import Path

from llb.process_env import AVX512_FLAGS, cpu_flags, ctranslate2_isa

ROOT = Path(__file__).resolve().parents[2]


def test_avx512_only_where_the_cpu_has_every_extension_ctranslate2_uses():
    assert ctranslate2_isa(AVX512_FLAGS | {"avx2", "fma"}) == "AVX512"
    assert ctranslate2_isa((AVX512_FLAGS - {"avx512bw"}) | {"avx2"}) is None  # e.g. an early AVX-512 CPU
    assert ctranslate2_isa(frozenset({"sse4_1", "avx", "avx2"})) is None
    assert ctranslate2_isa(frozenset()) is None


def test_cpu_flags_come_from_the_first_cpu_and_are_empty_without_proc(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu sse avx2 avx512f\n\n"
        "processor\t: 1\nflags\t\t: fpu other\n"
    )
    assert cpu_flags(cpuinfo) == {"fpu", "sse", "avx2", "avx512f"}
    assert cpu_flags(tmp_path / "missing") == frozenset()


def _selected_isa(**env: str) -> str:
    """The ISA CTranslate2 reports when a fresh process imports llb and loads the ASR model."""
    clean = {k: v for k, v in os.environ.items() if k != "CT2_FORCE_CPU_ISA"}
    code = "import llb; from streaming.engines.asr.engine import AsrConfig, AsrEngine; AsrEngine(AsrConfig())"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env={**clean, "CT2_VERBOSE": "1", **env},
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return next(line for line in done.stderr.splitlines() if "Selected ISA" in line).rsplit(":", 1)[1].strip()


def test_the_service_loads_ctranslate2_with_the_widest_kernels_the_cpu_has_unless_told():
    assert (_selected_isa() == "AVX512") == (cpu_flags() >= AVX512_FLAGS)
    assert _selected_isa(CT2_FORCE_CPU_ISA="GENERIC") == "GENERIC"  # an operator's choice stands
