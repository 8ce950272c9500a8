"""Join the bundled multilingual Whisper model once, at install time rather than on the first Mandarin session."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from streaming.engines.asr.bundled import SPLIT_MODELS, ModelUnavailable, assemble


class Command(BaseCommand):
    help = "Assemble and verify the bundled split Whisper models the settings name (idempotent)."

    def handle(self, *args, **options):
        for name in sorted({settings.WHISPER_MODEL, settings.WHISPER_MULTILINGUAL_MODEL} & SPLIT_MODELS.keys()):
            try:
                path = assemble(SPLIT_MODELS[name], Path(settings.MODELS_DIR))
            except ModelUnavailable as exc:
                raise CommandError(f"{exc} English is still served with {settings.WHISPER_MODEL}.") from exc
            self.stdout.write(f"Whisper model {name!r} ready in {path}")
