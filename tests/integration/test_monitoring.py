"""Monitoring: the sessions admin, the service-health dashboard, /metrics, /healthz and /readyz —
with real rows in PostgreSQL and real queues in Redis."""

import asyncio
import re
from datetime import timedelta

import numpy as np
import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import channel_layers, get_channel_layer
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.utils import label_for_field
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone, translation
from prometheus_client.parser import text_string_to_metric_families

from school.models import Classroom
from streaming import metrics
from streaming.models import ConversationEntry, SessionStatus, WorkerHeartbeat
from streaming.realtime.channel_layers import pending_requests
from streaming.realtime.messages import session_group
from streaming.services import add_assistant_reply, add_user_utterance, touch_session
from streaming.web.dashboard import percentile
from tests.support import REDIS_LAYER, make_session

pytestmark = pytest.mark.django_db
SESSIONS = "/admin/streaming/streamingsession/"
ENTRIES = "/admin/streaming/conversationentry/"
DASHBOARD = "/admin/sessions_admin/servicehealth/"
DASHBOARD_JSON = "/admin/sessions_admin/servicehealth/data.json"
REMOTE = {"REMOTE_ADDR": "10.1.2.3"}


@pytest.fixture
def superuser(db):
    return get_user_model().objects.create_superuser("root", password="pw-root-123")


@pytest.fixture
def teacher(db, user):
    """A teacher (staff, to log into the admin, and in the "teachers" group) of `user`'s class."""
    person = get_user_model().objects.create_user("teacher", password="pw-teacher-123", is_staff=True)
    person.groups.add(Group.objects.get_or_create(name="teachers")[0])
    classroom = Classroom.objects.create(name="5B")
    classroom.teachers.add(person)
    classroom.students.add(user)
    return person


def logged_in(person) -> Client:
    client = Client()
    client.force_login(person)
    return client


def beat(kind: str, pid: int, age_s: float = 0.0, **fields) -> WorkerHeartbeat:
    seen = timezone.now() - timedelta(seconds=age_s)
    return WorkerHeartbeat.objects.create(
        kind=kind, host="box-1", pid=pid, model=fields.get("model", "tiny.en"), device="cpu", last_seen_at=seen
    )


def age_entries(session, minutes: float) -> None:
    ConversationEntry.objects.filter(session=session).update(created_at=timezone.now() - timedelta(minutes=minutes))


@pytest.fixture
def conversation(user):
    """A session with a transcript: four student utterances (known latencies) and a reply."""
    session = make_session(user)
    for i, (delay, word) in enumerate([(0.4, 0.3), (0.6, 0.5), (0.8, 0.7), (1.0, 0.9)]):
        add_user_utterance(
            session.id,
            text=f"ask not what your country can do {i}",
            language="en",
            audio_duration=2.0,
            audio_start=i * 3.0,
            audio_end=i * 3.0 + 2.0,
            latency=delay,
            word_latency=word,
        )
    add_assistant_reply(session.id, text="A fine question.", language="en", audio_duration=1.5, latency=0.25)
    touch_session(session.id, audio_seconds=36.0, chunks=360, nbytes=1_152_000)
    session.refresh_from_db()
    return session


@pytest.fixture
def flushed_redis():
    """The Redis layer, emptied afterwards (stray messages must not reach later tests' workers)."""
    layer = get_channel_layer()
    yield layer
    async_to_sync(layer.flush)()


# --- admin: sessions and transcripts ---------------------------------------------------------


@pytest.mark.parametrize("role", ["staff", "superuser"])
def test_session_list_shows_figures(request, role, conversation):
    client = logged_in(request.getfixturevalue(role))
    page = client.get(SESSIONS)
    assert page.status_code == 200
    html = page.content.decode()
    assert str(conversation.id)[:8] in html and "student" in html
    assert "0.70 / 1.00 s" in html  # mean and max final delay of 0.4, 0.6, 0.8, 1.0
    assert "36.0 s" in html  # audio seconds
    detail = client.get(f"{SESSIONS}{conversation.id}/change/").content.decode()
    assert "0.60 s" in detail  # mean word latency
    assert "0.25 s" in detail  # reply first audio
    for query in ("?status__exact=active", "?language__exact=en", f"?created_at__year={timezone.now().year}", "?o=7"):
        assert client.get(SESSIONS + query).status_code == 200, query


def test_session_search_by_text_and_id(staff, conversation, other_user):
    other = make_session(other_user)
    client = logged_in(staff)
    by_text = client.get(SESSIONS, {"q": "country"}).content.decode()
    assert str(conversation.id)[:8] in by_text and str(other.id)[:8] not in by_text
    by_short_id = client.get(SESSIONS, {"q": str(other.id)[:8]}).content.decode()
    assert str(other.id)[:8] in by_short_id and str(conversation.id)[:8] not in by_short_id
    by_id = client.get(SESSIONS, {"q": str(conversation.id)}).content.decode()
    assert str(conversation.id)[:8] in by_id and str(other.id)[:8] not in by_id


def test_session_page_is_a_read_only_transcript(staff, conversation):
    page = logged_in(staff).get(f"{SESSIONS}{conversation.id}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "ask not what your country can do 0" in html and "A fine question." in html
    assert "<textarea" not in html and 'name="_save"' not in html


def test_entries_are_searchable_by_text(staff, conversation):
    html = logged_in(staff).get(ENTRIES, {"q": "fine question"}).content.decode()
    assert "A fine question." in html and "ask not" not in html


def test_close_and_expire_actions_end_sessions_and_tell_the_socket(staff, user, flushed_redis):
    first, second = make_session(user), make_session(user)
    channel = async_to_sync(flushed_redis.new_channel)()
    async_to_sync(flushed_redis.group_add)(session_group(first.id), channel)
    client = logged_in(staff)
    response = client.post(SESSIONS, {"action": "close_sessions", ACTION_CHECKBOX_NAME: [str(first.id)]})
    assert response.status_code == 302
    first.refresh_from_db()
    assert first.status == SessionStatus.CLOSED and first.closed_at is not None
    assert async_to_sync(flushed_redis.receive)(channel) == {"type": "session.ended", "status": "closed"}
    client.post(SESSIONS, {"action": "expire_sessions", ACTION_CHECKBOX_NAME: [str(second.id)]})
    second.refresh_from_db()
    assert second.status == SessionStatus.EXPIRED


def test_admin_index_lists_what_each_role_may_see(staff, teacher):
    operator_index = logged_in(staff).get("/admin/").content.decode()
    for link in (SESSIONS, ENTRIES, DASHBOARD, "/admin/school/classroom/", "/admin/streaming/apitoken/"):
        assert link in operator_index
    teacher_index = logged_in(teacher).get("/admin/").content.decode()
    assert SESSIONS in teacher_index and ENTRIES in teacher_index
    for link in (DASHBOARD, "/admin/school/classroom/", "/admin/streaming/apitoken/", "workerheartbeat"):
        assert link not in teacher_index


def test_teacher_pages_render_with_their_students_data(teacher, conversation):
    client = logged_in(teacher)
    listing = client.get(SESSIONS)
    assert listing.status_code == 200 and str(conversation.id)[:8] in listing.content.decode()
    detail = client.get(f"{SESSIONS}{conversation.id}/change/")
    assert detail.status_code == 200 and "A fine question." in detail.content.decode()
    assert "ask not" in client.get(ENTRIES).content.decode()


# --- the service-health dashboard -------------------------------------------------------------


@pytest.mark.parametrize("role", ["staff", "superuser"])
def test_dashboard_shows_workers_queues_latency_and_charts(request, role, conversation, flushed_redis, settings):
    settings.WORKER_HEARTBEAT_INTERVAL = 10
    beat("asr", 101)
    beat("tts", 102, model="piper")
    beat("asr", 103, age_s=120)  # stale: gone
    for i in range(3):
        async_to_sync(flushed_redis.send)("asr", {"type": "test.noop", "n": i})
    page = logged_in(request.getfixturevalue(role)).get(DASHBOARD)
    assert page.status_code == 200
    html = page.content.decode()
    assert '<span class="figure" id="active-sessions">1</span>' in html
    assert '<span class="figure" id="asr-workers">1</span>' in html
    assert '<span class="figure" id="pending-asr">3</span>' in html
    assert '<span class="figure" id="pending-tts">0</span>' in html
    assert html.count('class="llb-alive"') == 2 and html.count('class="llb-gone"') == 1
    assert "103" in html and "piper" in html
    assert html.count('class="llb-chart"') == 2 and "polyline" in html
    assert '<span class="figure" id="audio-hours">0.01</span>' in html  # 36 s


def test_dashboard_json_keeps_the_original_shape(staff, conversation, flushed_redis):
    beat("asr", 201)
    beat("tts", 202)
    age_entries(conversation, minutes=30)  # outside the 5-minute window, inside the hour
    add_user_utterance(conversation.id, text="recent", language="en", latency=2.0, word_latency=1.5)
    body = logged_in(staff).get(DASHBOARD_JSON).json()
    assert {"totalSessions", "activeSessions", "serviceStatus"} <= set(body)
    assert body["serviceStatus"]["transcriptionWorkers"] == 1 and body["serviceStatus"]["ttsWorkers"] == 1
    channels = ("asr", "asr-final", "asr-multilingual", "asr-multilingual-final", "tts")
    assert body["pendingRequests"] == dict.fromkeys(channels, 0)
    recent, hour = body["latency"]["last5m"], body["latency"]["last60m"]
    assert recent["finalDelay"] == {"count": 1, "p50": 2.0, "p90": 2.0, "p95": 2.0, "p99": 2.0, "max": 2.0}
    assert hour["finalDelay"]["count"] == 5 and hour["finalDelay"]["p50"] == 0.8 and hour["finalDelay"]["max"] == 2.0
    assert hour["wordLatency"]["p50"] == 0.7 and hour["firstAudio"]["count"] == 1
    assert recent["firstAudio"]["count"] == 0 and recent["firstAudio"]["p50"] is None
    assert [w["alive"] for w in body["workers"]] == [True, True]


def test_percentile_interpolates():
    assert percentile([], 50) is None
    assert percentile([1.0], 99) == 1.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([0.0, 10.0], 90) == 9.0


def test_pending_requests_counts_queued_messages(layer):
    channel_layer = get_channel_layer()
    try:
        assert pending_requests("asr") == 0
        for i in range(2):
            async_to_sync(channel_layer.send)("asr", {"type": "test.noop", "n": i})
        assert pending_requests("asr") == 2 and pending_requests("tts") == 0
    finally:
        async_to_sync(channel_layer.flush)()


# --- /metrics --------------------------------------------------------------------------------


def scrape(client: Client | None = None, **extra) -> dict[str, float]:
    response = (client or Client()).get("/metrics", **extra)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


def test_metrics_parse_and_move(user, settings):
    settings.WORKER_HEARTBEAT_INTERVAL = 10
    beat("asr", 301)
    beat("tts", 302, age_s=300)
    before = scrape()
    make_session(user)
    metrics.session_opened()
    metrics.audio_received(3.5)
    metrics.words_shown([0.2, 0.3])
    metrics.utterance_finished(2.5, 0.42, [0.35])
    metrics.reply_finished(0.3)
    metrics.error("rate_limited")
    metrics.error("Not A Code!")
    after = scrape()
    metrics.session_closed()

    def moved(name: str) -> float:
        return after.get(name, 0.0) - before.get(name, 0.0)

    assert moved("llb_sessions{status=active}") == 1
    assert moved("llb_sessions_opened_total") == 1 and moved("llb_sessions_connected") == 1
    assert moved("llb_audio_received_seconds_total") == pytest.approx(3.5)
    assert moved("llb_utterances_total") == 1 and moved("llb_utterance_audio_seconds_total") == pytest.approx(2.5)
    assert moved("llb_final_delay_seconds_count") == 1 and moved("llb_final_delay_seconds_sum") == pytest.approx(0.42)
    assert moved("llb_final_delay_seconds_bucket{le=0.5}") == 1 and moved("llb_final_delay_seconds_bucket{le=0.3}") == 0
    assert moved("llb_word_latency_seconds_count") == 3
    assert moved("llb_reply_first_audio_seconds_count") == 1 and moved("llb_replies_total") == 1
    assert moved("llb_errors_total{code=rate_limited}") == 1 and moved("llb_errors_total{code=other}") == 1
    assert after["llb_workers_alive{kind=asr}"] == 1 and after["llb_workers_alive{kind=tts}"] == 0
    assert after["llb_worker_up{device=cpu,host=box-1,kind=asr,model=tiny.en,pid=301}"] == 1
    assert after["llb_worker_up{device=cpu,host=box-1,kind=tts,model=tiny.en,pid=302}"] == 0
    assert after["llb_worker_channel_pending{channel=asr}"] == 0
    assert after["llb_worker_channel_pending{channel=asr-final}"] == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_metrics_move_when_a_session_streams(layer, user):
    """Real speech through the WebSocket and an in-process worker moves the streaming counters."""
    from streaming.core.audio import float32_to_pcm16
    from tests.speech import frames, jfk_audio, silence
    from tests.support import in_process_workers, open_socket, token_for

    session = await sync_to_async(make_session)(user)
    before = await sync_to_async(scrape)()
    async with in_process_workers(("asr",)):
        communicator, connected, _ = await open_socket(session.id, token=await sync_to_async(token_for)(user))
        assert connected
        audio = np.concatenate([jfk_audio()[: 16000 * 4], silence(1.5)])
        for frame in frames(float32_to_pcm16(audio)):
            await communicator.send_to(bytes_data=frame)
            await asyncio.sleep(0.025)
        while True:
            message = await communicator.receive_json_from(timeout=60)
            if message["type"] == "transcription" and message["data"]["is_final"]:
                break
        await communicator.disconnect()
    after = await sync_to_async(scrape)()
    assert after["llb_audio_received_seconds_total"] - before.get("llb_audio_received_seconds_total", 0) >= 5.0
    assert after["llb_utterances_total"] - before.get("llb_utterances_total", 0) >= 1
    assert after["llb_final_delay_seconds_count"] > before.get("llb_final_delay_seconds_count", 0)
    assert after["llb_sessions_opened_total"] - before.get("llb_sessions_opened_total", 0) == 1
    assert after["llb_sessions_closed_total"] - before.get("llb_sessions_closed_total", 0) == 1


# --- access to /metrics and /readyz -----------------------------------------------------------


@pytest.mark.parametrize("url", ["/metrics", "/readyz"])
def test_without_token_only_loopback_and_operators(url, staff, teacher, user):
    assert Client().get(url).status_code != 403  # the test client is 127.0.0.1
    assert Client().get(url, **REMOTE).status_code == 403
    forwarded = Client().get(url, HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert forwarded.status_code == 403  # relayed by a local proxy: not a local request
    assert logged_in(staff).get(url, **REMOTE).status_code != 403
    assert logged_in(teacher).get(url, **REMOTE).status_code == 403
    assert logged_in(user).get(url, **REMOTE).status_code == 403


@pytest.mark.parametrize("url", ["/metrics", "/readyz"])
def test_with_token_the_bearer_is_required(url, staff, settings):
    settings.METRICS_TOKEN = "s3cret-scrape-token"
    refused = Client().get(url)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_token"
    assert refused["WWW-Authenticate"].startswith("Bearer")
    assert Client().get(url, HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert logged_in(staff).get(url).status_code == 401
    assert Client().get(url, HTTP_AUTHORIZATION="Bearer s3cret-scrape-token", **REMOTE).status_code != 401


def test_healthz_is_open_and_says_little():
    response = Client().get("/healthz", **REMOTE)
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert Client().post("/healthz").status_code == 405


# --- readiness ---------------------------------------------------------------------------------


def test_ready_with_database_redis_and_both_workers(settings):
    settings.WORKER_HEARTBEAT_INTERVAL = 10
    beat("asr", 401)
    beat("tts", 402)
    response = Client().get("/readyz")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"]["channel_layer"] == {"ok": True, "backend": "RankedRedisChannelLayer"}
    assert body["checks"]["workers"] == {"ok": True, "asr": 1, "tts": 1, "asr_models": {"tiny.en": 1, "base": 0}}


def test_each_speech_model_shows_its_workers_queue_and_latency(staff, settings, flushed_redis):
    """A worker of each model; the Mandarin one's sessions are slower. Readiness, the dashboard
    and /metrics each show both models."""
    settings.WORKER_HEARTBEAT_INTERVAL = 10
    beat("asr", 501, model="tiny.en")
    beat("asr", 502, model="tiny.en, base")
    beat("asr", 503, model="base (failed)")
    beat("tts", 504)
    for language, delay in (("en", 0.5), ("zh", 1.5)):
        session = make_session(staff, language=language)
        add_user_utterance(session.id, text="hi", language=language, latency=delay, word_latency=delay / 2)
    assert Client().get("/readyz").json()["checks"]["workers"]["asr_models"] == {"tiny.en": 2, "base": 1}
    client = Client()
    client.force_login(staff)
    models = {m["name"]: m for m in client.get(DASHBOARD_JSON).json()["models"]}
    assert models["tiny.en"]["languages"] == ["en"] and models["base"]["languages"] == ["zh", "auto"]
    assert models["base"]["channels"] == ["asr-multilingual", "asr-multilingual-final"]
    assert (models["tiny.en"]["workersAlive"], models["base"]["workersAlive"]) == (2, 1)
    assert (models["tiny.en"]["finalDelayP95"], models["base"]["finalDelayP95"]) == (0.5, 1.5)
    assert models["base"]["pending"] == 0
    assert 'id="models"' in client.get(DASHBOARD).content.decode()
    samples = scrape()
    assert samples["llb_asr_model_workers_alive{languages=zh,auto,model=base}"] == 1
    assert samples["llb_asr_model_workers_alive{languages=en,model=tiny.en}"] == 2
    assert samples["llb_worker_channel_pending{channel=asr-multilingual-final}"] == 0


def test_not_ready_when_workers_are_gone(settings):
    settings.WORKER_HEARTBEAT_INTERVAL = 10
    assert Client().get("/readyz").status_code == 503  # none ever started
    beat("asr", 501)
    beat("tts", 502, age_s=60)  # stale: its process died without saying so
    response = Client().get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable" and body["checks"]["database"]["ok"] is True
    assert body["checks"]["workers"]["ok"] is False and "tts" in body["checks"]["workers"]["error"]


@pytest.fixture
def redis_gone(settings):
    """The channel layer pointed at a port where no Redis listens."""
    settings.CHANNEL_LAYERS = {
        "default": {**REDIS_LAYER, "CONFIG": {**REDIS_LAYER["CONFIG"], "hosts": ["redis://127.0.0.1:1/0"]}}
    }
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


def test_not_ready_when_redis_is_gone(settings, redis_gone):
    beat("asr", 601)
    beat("tts", 602)
    response = Client().get("/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["channel_layer"]["ok"] is False and checks["workers"]["ok"] is True
    assert "Connection" in checks["channel_layer"]["error"] or "connect" in checks["channel_layer"]["error"]
    # The dashboard and /metrics still render, showing the queues as unknown.
    assert "llb_sessions" in Client().get("/metrics").content.decode()


def test_dashboard_survives_redis_gone(staff, redis_gone):
    page = logged_in(staff).get(DASHBOARD)
    assert page.status_code == 200
    assert '<span class="figure" id="pending-asr">?</span>' in page.content.decode()


# --- the admin in Chinese, with figures for people ----------------------------------------------

LONG_FLOAT = re.compile(r"\d\.\d{4,}")  # 22.299999999999997, 0.8412345678
MICROSECONDS = re.compile(r"\d:\d\d\.\d{3,}")  # 04:15:07.123457


@pytest.fixture
def awkward_conversation(user):
    """Figures as the service writes them: floats that do not print short."""
    session = make_session(user)
    add_user_utterance(
        session.id,
        text="ask not",
        language="en",
        audio_duration=0.8888888,
        audio_start=0.123456789,
        audio_end=1.0123456789,
        latency=0.8412345678,
        word_latency=0.6543210987,
    )
    add_assistant_reply(session.id, text="A fine question.", language="en", audio_duration=1.2345678, latency=0.253333)
    touch_session(session.id, audio_seconds=22.299999999999997, chunks=223, nbytes=713_600)
    return session


def in_chinese(person) -> Client:
    client = logged_in(person)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "zh-hans"
    return client


def test_the_admin_speaks_chinese_and_shows_figures_for_people(staff, awkward_conversation):
    client = in_chinese(staff)
    listing = client.get(SESSIONS).content.decode()
    for chinese in ("会话", "语音服务", "用户", "开始时间", "定稿延迟（平均 / 最大）", "进行中", "结束所选会话"):
        assert chinese in listing, chinese
    for english in ("Audio streaming", "final delay", "Session id, student name", "Close the selected sessions"):
        assert english not in listing, english
    assert "22.3 s" in listing and "0.84 / 0.84 s" in listing

    detail = client.get(f"{SESSIONS}{awkward_conversation.id}/change/").content.decode()
    for chinese in ("转写记录", "逐词延迟（平均）", "回复首音（平均）", "缓冲音频", "学生", "AI 助教", "已接收字节"):
        assert chinese in detail, chinese
    assert "0.65 s" in detail and "0.25 s" in detail and "0.1 s" in detail and "696.9" in detail
    entries = client.get(ENTRIES).content.decode()
    assert "转写条目" in entries and "0.84 s" in entries
    for html in (listing, detail, entries):
        assert not LONG_FLOAT.search(html), LONG_FLOAT.search(html)
        assert not MICROSECONDS.search(html), MICROSECONDS.search(html)


def test_every_column_and_filter_of_ours_has_a_chinese_label(staff, rf):
    """A label left out of gettext reads the same in both languages."""
    request = rf.get(SESSIONS)
    request.user = staff
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label not in ("streaming", "school", "reading", "sessions_admin"):
            continue
        names = [*model_admin.list_display, *(model_admin.fields or ())]
        filters = [f.title for f in model_admin.list_filter if isinstance(f, type)]
        labels = {}
        for language in ("en", "zh-hans"):
            with translation.override(language):
                labels[language] = [
                    str(model._meta.verbose_name),
                    str(model._meta.verbose_name_plural),
                    str(model._meta.app_config.verbose_name),
                    *(str(label_for_field(n, model, model_admin)) for n in names if n != "__str__"),
                    *(str(title) for title in filters),
                ]
        same = [en for en, zh in zip(labels["en"], labels["zh-hans"], strict=True) if en == zh]
        assert not same, (model.__name__, same)


def test_dashboard_in_chinese_with_times_and_latencies_for_people(staff, awkward_conversation, flushed_redis):
    beat("asr", 301)
    beat("tts", 302, age_s=7.123456)
    html = in_chinese(staff).get(DASHBOARD).content.decode()
    for chinese in ("服务状态", "进行中的会话", "工作进程", "语音识别", "语音合成", "在线", "定稿延迟", "生成于"):
        assert chinese in html, chinese
    for english in ("active sessions", "Workers", ">alive<", "Final delay", "last 24 hours", "Generated"):
        assert english not in html, english
    assert "<td>0.84</td>" in html  # p50 of the final delay, two decimals
    assert not LONG_FLOAT.search(html), LONG_FLOAT.search(html)
    assert not MICROSECONDS.search(html), MICROSECONDS.search(html)
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:", html)  # no ISO stamps: local times for people
