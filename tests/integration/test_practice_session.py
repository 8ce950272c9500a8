"""Reading practice end to end: real speech read into a practice session over the WebSocket (the
real model in in-process workers), progress while reading, the result saved as an attempt and
readable over REST by whom the roles allow (docs/protocol.md, docs/decisions/0041)."""

import time

import numpy as np
import pytest
from asgiref.sync import sync_to_async
from django.test import Client

from reading.models import PracticeText, ReadingAttempt
from streaming.core.audio import SAMPLE_RATE
from tests.integration import test_reading_app
from tests.integration.test_malformed_http import bearer
from tests.integration.test_reading_speech import CUT_SENTENCE, OSR, osr_with_a_sentence_cut_out, reference_time
from tests.integration.test_streaming import PACE_S, collect_until_final, stream
from tests.speech import EN_CLIPS, JFK_TEXT, ZH_CLIPS, jfk_audio, load_zh_clip, silence
from tests.support import in_process_workers, make_session, open_socket, token_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]
school = test_reading_app.school  # the fixture: class 5B (teacher, student, classmate), 6A (teacher6, other)
API = "/api/v1/audio-streaming"
QUIET_S = 4.0  # no message for this long: the transcript has caught up with the audio
ZH_CLIP = "zh_paddlespeech_zh.wav"


def assigned_text(school, text: str, language: str = "en") -> PracticeText:
    """A text of 5B's teacher, assigned to 5B (the student's class)."""
    practice = PracticeText.objects.create(title=text[:30], language=language, text=text, created_by=school["teacher"])
    practice.classrooms.add(school["5B"])
    return practice


async def open_practice(student, text: PracticeText):
    session = await sync_to_async(make_session)(student, practice_text_id=text.pk)
    communicator, connected, first = await open_socket(session.id, token=await sync_to_async(token_for)(student))
    assert connected and first["data"]["event"] == "connected", first
    return session, communicator, first["data"]


def control(command: str) -> dict:
    return {"type": "control", "data": {"command": command}}


async def read_until_result(communicator, audio: np.ndarray, pace: float = PACE_S, timeout: float = 240):
    """Read `audio` aloud; the messages up to the attempt's `reading_result` and whether
    `reading_done` was needed (sent once the transcript had caught up and no result had come)."""
    await stream(communicator, np.concatenate([silence(0.5), audio, silence(2.0)]), pace)
    messages, done_sent = [], False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await communicator.receive_nothing(timeout=QUIET_S):
            assert not done_sent, "no reading_result after reading_done"
            await communicator.send_json_to(control("reading_done"))
            done_sent = True
            continue
        message = await communicator.receive_json_from(timeout=10)
        messages.append(message)
        if message["type"] == "reading_result":
            return messages, message, done_sent
    raise AssertionError("no reading_result")


async def until_answered(communicator) -> list[dict]:
    """The messages already sent: a `stats` command is answered after them, in order."""
    await communicator.send_json_to({"type": "control", "data": {"command": "stats"}})
    messages = []
    while not messages or messages[-1]["type"] != "stats":
        messages.append(await communicator.receive_json_from(timeout=10))
    return messages[:-1]


def of_type(messages: list[dict], kind: str) -> list[dict]:
    return [m for m in messages if m["type"] == kind]


def statuses(result: dict) -> list[str]:
    return [w["status"] for w in result["data"]["words"]]


async def test_jfk_read_against_its_own_text_scores_live_then_saves_an_attempt_the_roles_may_read(memory_layer, school):
    student = school["student"]
    text = await sync_to_async(assigned_text)(school, JFK_TEXT)
    async with in_process_workers(("asr",)):
        session, communicator, connected = await open_practice(student, text)
        messages, result, done_sent = await read_until_result(communicator, jfk_audio())
        await communicator.disconnect()
    practice = connected["practice"]
    assert practice["id"] == text.pk and practice["language"] == "en" and practice["text"] == JFK_TEXT
    assert [(w["text"], w["offset"]) for w in practice["words"]] == _offsets(JFK_TEXT)
    assert not done_sent, "the last turn reached the end of the text: the attempt ends by itself"
    # Progress while reading: before the first utterance was over, words were already marked.
    first_final = next(k for k, m in enumerate(messages) if m["type"] == "transcription" and m["data"]["is_final"])
    early = of_type(messages[:first_final], "reading_progress")
    assert early and any(m["data"]["position"] > 0 for m in early), "progress must come while reading"
    progress = of_type(messages, "reading_progress")
    assert all(m["attempt"] == 1 and not m["data"]["finished"] for m in progress)
    assert len({m["data"]["position"] for m in progress}) >= 4  # the reader is followed, word after word
    assert not of_type(messages, "tts_audio")  # the tutor listens
    data = result["data"]
    assert result["attempt"] == 1 and data["finished"] and data["figures"]["accuracy"] >= 0.95, data["words"]
    reference_wcpm = len(practice["words"]) * 60 / reference_time("jfk.flac")
    assert data["figures"]["wcpm"] == pytest.approx(reference_wcpm, rel=0.05)
    await sync_to_async(check_attempt_rest)(school, session, text, data)


def _offsets(text: str) -> list[tuple[str, int]]:
    found, at = [], 0
    for word in text.split():
        at = text.index(word, at)
        found.append((word, at))
        at += len(word)
    return found


def check_attempt_rest(school, session, text: PracticeText, data: dict) -> None:
    attempt = ReadingAttempt.objects.get(session=session)
    assert attempt.pk == data["attemptId"] and attempt.text == text and attempt.student == school["student"]
    assert attempt.results == {k: v for k, v in data.items() if k != "attemptId"}
    path = f"{API}/reading-attempts/{attempt.pk}"
    for who in ("student", "teacher", "staff"):
        body = Client().get(path, **bearer(school[who])).json()
        assert body["id"] == attempt.pk and body["student"] == "student" and body["textId"] == text.pk, who
        assert body["accuracy"] == pytest.approx(data["figures"]["accuracy"]) and body["results"] == attempt.results
        listed = Client().get(f"{API}/reading-attempts", {"session": str(session.id)}, **bearer(school[who])).json()
        assert [a["id"] for a in listed["results"]] == [attempt.pk] and listed["count"] == 1, who
    for who in ("classmate", "other", "teacher6"):  # another student, one of another class, their teacher
        response = Client().get(path, **bearer(school[who]))
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found", who
        listed = Client().get(f"{API}/reading-attempts", {"text": str(text.pk)}, **bearer(school[who])).json()
        assert listed["count"] == 0, who


async def test_a_sentence_cut_out_of_the_reading_is_exactly_that_sentence_skipped(memory_layer, school):
    text = await sync_to_async(assigned_text)(school, EN_CLIPS[OSR])
    audio, first, last = osr_with_a_sentence_cut_out()
    async with in_process_workers(("asr",)):
        _, communicator, _ = await open_practice(school["student"], text)
        _, result, _ = await read_until_result(communicator, audio)
        await communicator.disconnect()
    words = result["data"]["words"]
    skipped = [i for i, w in enumerate(words) if w["status"] == "skipped"]
    assert skipped == list(range(first, last + 1)), [(w["text"], w["status"], w.get("heard")) for w in words]
    assert " ".join(w["text"] for w in words[first : last + 1]) == EN_CLIPS[OSR].split(". ")[CUT_SENTENCE] + "."
    assert result["data"]["figures"]["correct"] >= len(words) - len(skipped) - 2


async def test_the_audio_of_another_text_scores_low(memory_layer, school):
    text = await sync_to_async(assigned_text)(school, EN_CLIPS[OSR])
    async with in_process_workers(("asr",)):
        _, communicator, _ = await open_practice(school["student"], text)
        _, result, done_sent = await read_until_result(communicator, jfk_audio())
        await communicator.disconnect()
    assert done_sent, "JFK never reaches the end of the OSR text: the reader says when they are done"
    assert result["data"]["figures"]["accuracy"] < 0.3


async def test_a_mandarin_reading_is_scored_character_by_character(memory_layer, school):
    reference = ZH_CLIPS[ZH_CLIP]
    text = await sync_to_async(assigned_text)(school, reference, "zh")
    async with in_process_workers(("asr",)):
        session, communicator, connected = await open_practice(school["student"], text)
        _, result, _ = await read_until_result(communicator, load_zh_clip(ZH_CLIP), pace=0.1)
        await communicator.disconnect()
    assert session.language == "zh"  # the text's
    characters = [ch for ch in reference if ch.isalnum()]
    assert [w["text"] for w in connected["practice"]["words"]] == characters
    data = result["data"]
    assert [w["text"] for w in data["words"]] == characters and data["language"] == "zh"
    assert data["figures"]["accuracy"] >= 0.9, [(w["text"], w["status"], w.get("heard")) for w in data["words"]]
    reading_time = data["figures"]["readingTime"]
    assert reading_time == pytest.approx(reference_time(f"zh/{ZH_CLIP}", "zh"), rel=0.05)
    assert data["figures"]["wcpm"] == pytest.approx(data["figures"]["correct"] * 60 / reading_time, rel=0.01)


async def test_try_again_drops_the_attempt_and_done_ends_the_next_one(memory_layer, school):
    """ "Try again" after "And so my fellow Americans, ask not": what follows is a new attempt,
    whose result counts none of the words said before (they are skipped, the rest read)."""
    text = await sync_to_async(assigned_text)(school, JFK_TEXT)
    audio = jfk_audio()
    cut = int(4.6 * SAMPLE_RATE)  # after "ask not"
    async with in_process_workers(("asr",)):
        session, communicator, _ = await open_practice(school["student"], text)
        await stream(communicator, np.concatenate([silence(0.5), audio[:cut], silence(1.5)]))
        before = await collect_until_final(communicator, after_s=4.0)
        before += await until_answered(communicator)  # the final's own progress, if it changed
        assert of_type(before, "reading_progress"), "progress before trying again"
        await communicator.send_json_to(control("reading_restart"))
        messages, result, done_sent = await read_until_result(communicator, audio[cut:])
        await communicator.send_json_to(control("reading_done"))
        nothing = await communicator.receive_json_from(timeout=10)
        await communicator.disconnect()
    assert {m["attempt"] for m in of_type(messages, "reading_progress")} == {2}
    assert result["attempt"] == 2 and not done_sent
    said_before = 7  # "And so my fellow Americans, ask not"
    assert statuses(result)[:said_before] == ["skipped"] * said_before
    assert statuses(result)[said_before:].count("correct") >= len(JFK_TEXT.split()) - said_before - 1
    assert nothing["type"] == "error" and nothing["data"]["code"] == "nothing_read"
    assert await sync_to_async(ReadingAttempt.objects.filter(session=session).count)() == 1


async def test_reading_commands_outside_a_practice_session_are_refused_and_the_connection_survives(memory_layer, user):
    session = await sync_to_async(make_session)(user)
    communicator, _, first = await open_socket(session.id, token=await sync_to_async(token_for)(user))
    assert first["data"]["practice"] is None
    for command in ("reading_done", "reading_restart"):
        await communicator.send_json_to(control(command))
        refused = await communicator.receive_json_from(timeout=10)
        assert refused["type"] == "error" and refused["data"]["code"] == "not_practice_session"
    await communicator.send_json_to(control("ping"))
    assert (await communicator.receive_json_from(timeout=10))["type"] == "pong"
    await communicator.disconnect()


async def test_practice_texts_over_rest_and_practice_sessions_only_of_visible_texts(school):
    await sync_to_async(check_texts_rest)(school)


def check_texts_rest(school) -> None:
    text = assigned_text(school, "The cat sat on the mat.")
    student, other = bearer(school["student"]), bearer(school["other"])
    listed = Client().get(f"{API}/practice-texts", **student).json()["results"]
    assert [t["id"] for t in listed] == [text.pk]  # a student: the texts assigned to their classes only
    one = Client().get(f"{API}/practice-texts/{text.pk}", **student).json()
    assert one["words"] == [{"text": w, "offset": o} for w, o in _offsets(text.text)]
    assert Client().get(f"{API}/practice-texts/{text.pk}", **other).status_code == 404  # not their class
    teacher_sees = Client().get(f"{API}/practice-texts", **bearer(school["teacher"])).json()["results"]
    assert text.pk in {t["id"] for t in teacher_sees}

    def create(who: dict, **body):
        return Client().post(f"{API}/sessions", data=body, content_type="application/json", **who)

    made = create(student, practice_text_id=text.pk)
    assert made.status_code == 201 and made.json()["options"]["practice_text_id"] == text.pk
    assert made.json()["language"] == "en"
    for who, body in (
        (other, {"practice_text_id": text.pk}),  # not assigned to their class
        (student, {"practice_text_id": 10**12}),
        (student, {"practice_text_id": True}),
        (student, {"practice_text_id": str(text.pk)}),
    ):
        refused = create(who, **body)
        assert refused.status_code == 400 and refused.json()["error"]["field"] == "practice_text_id", body
    mismatch = create(student, practice_text_id=text.pk, language="zh")
    assert mismatch.status_code == 400 and mismatch.json()["error"]["field"] == "language"
