"""LLB Voice settings: every value comes from the environment, read here and nowhere else.

Embedded mode (no DATABASE_URL / REDIS_URL): SQLite file, in-memory channel layer, ASR and TTS
workers inside the server process. Production: PostgreSQL + Redis + `runworker asr tts`.
"""

import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return default if value in (None, "") else int(value)


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return default if value in (None, "") else float(value)


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


DATA_DIR = Path(env_str("LLB_DATA_DIR", str(BASE_DIR / "var")))
DEBUG = env_bool("DEBUG", False)


def _secret_key() -> str:
    """Local runs keep a generated key in DATA_DIR; a production (DEBUG off) run must set one."""
    key = env_str("SECRET_KEY")
    if key:
        return key
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    key_file = DATA_DIR / "secret_key"
    if not key_file.exists():
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "streaming",  # before channels: its runworker adds model preloading and heartbeats
    "channels",
    "school",
    "reading",
    "sessions_admin",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "llb.middleware.refuse_null_characters",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "llb.urls"
ASGI_APPLICATION = "llb.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{DATA_DIR / 'db.sqlite3'}")
if DATABASE_URL.startswith("sqlite"):
    DATA_DIR.mkdir(parents=True, exist_ok=True)
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded server writes from several threads; wait instead of failing on a busy file.
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            # channels-redis, with closing partials ahead in the `asr` queue (queue_rank).
            "BACKEND": "streaming.realtime.channel_layers.RankedRedisChannelLayer",
            "CONFIG": {
                # channels-redis blocks 5 s in BZPOPMIN; redis-py 8 times reads out after 5 s by
                # default, which kills idle sockets. Reads must outlast the block.
                "hosts": [{"address": REDIS_URL, "socket_timeout": 15}],
                "prefix": env_str("CHANNEL_PREFIX", "llb"),
                "capacity": 200,
                # Worker channels queue requests from every session; one in flight per session.
                "channel_capacity": {"asr": 2000, "asr-final": 2000, "tts": 2000},
                "expiry": 60,
            },
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("CHANNEL_PREFIX", "llb"),
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "streaming.realtime.channel_layers.RankedInMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# ASR/TTS workers as tasks inside the server process (embedded) or `runworker asr tts` (production).
EMBEDDED_WORKERS = env_bool("EMBEDDED_WORKERS", not REDIS_URL)
SERVE_STATIC = env_bool("SERVE_STATIC", DEBUG or not REDIS_URL)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "chat"
LOGOUT_REDIRECT_URL = "login"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_TLS_PROXY", False) else None
X_FRAME_OPTIONS = "DENY"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(DATA_DIR / "static")))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}

# --- Sessions and audio (names and defaults of the original service) -------------------------
CHUNK_DURATION = env_float("CHUNK_DURATION", 2.0)  # longest update interval, used when lagging
OVERLAP_DURATION = env_float("OVERLAP_DURATION", 0.5)  # audio context kept before the commit point
MAX_CHUNK_SIZE = env_int("MAX_CHUNK_SIZE", 1024 * 1024)  # bytes per WebSocket message
MAX_BUFFER_SIZE = env_int("MAX_BUFFER_SIZE", 10 * 1024 * 1024)  # PCM16 bytes per session
SESSION_TIMEOUT = env_int("SESSION_TIMEOUT", 3600)  # seconds of inactivity before expiry
NUM_WORKERS = env_int("NUM_WORKERS", 2)  # embedded ASR decodes at once (one model, a replica + thread each)
MAX_ACTIVE_SESSIONS = env_int("MAX_ACTIVE_SESSIONS", 64)
MAX_SESSIONS_PER_USER = env_int("MAX_SESSIONS_PER_USER", 3)
EXPIRY_SWEEP_INTERVAL = env_int("EXPIRY_SWEEP_INTERVAL", 60)

MIN_UPDATE_INTERVAL = env_float("MIN_UPDATE_INTERVAL", 0.5)  # shortest update interval
UPDATE_INTERVAL_ROUND_TRIPS = env_float("UPDATE_INTERVAL_ROUND_TRIPS", 2.0)  # update interval / ASR round trip
MAX_WINDOW_DURATION = env_float("MAX_WINDOW_DURATION", 12.0)  # trim the window past this
VAD_THRESHOLD = env_float("VAD_THRESHOLD", 0.5)
VAD_MIN_SILENCE = env_float("VAD_MIN_SILENCE", 0.6)  # silence that ends a phrase (its words final)
TURN_PAUSE = env_float("TURN_PAUSE", 1.2)  # silence that ends a turn: the utterance, one entry
MAX_FRAMES_PER_SECOND = env_int("MAX_FRAMES_PER_SECOND", 100)
MAX_BYTES_PER_SECOND = env_int("MAX_BYTES_PER_SECOND", 1024 * 1024)
ASR_TIMEOUT = env_float("ASR_TIMEOUT", 15.0)  # a request unanswered this long is retried once

# --- Speech recognition -----------------------------------------------------------------------
# English sessions use WHISPER_MODEL; Mandarin and language detection (`auto`) the multilingual one.
# Both bundled models work offline; either may name another CTranslate2 directory instead.
WHISPER_MODEL = env_str("WHISPER_MODEL", "tiny.en")
WHISPER_MULTILINGUAL_MODEL = env_str("WHISPER_MULTILINGUAL_MODEL", "base")
MODELS_DIR = env_str("MODELS_DIR", str(DATA_DIR / "models"))  # where the bundled split model is joined once
WHISPER_DEVICE = env_str("WHISPER_DEVICE", "auto")
WHISPER_COMPUTE_TYPE = env_str("WHISPER_COMPUTE_TYPE", "auto")
WHISPER_CPU_THREADS = env_int("WHISPER_CPU_THREADS", 1)
WHISPER_BEAM_SIZE = env_int("WHISPER_BEAM_SIZE", 5)
WHISPER_MIN_CONTEXT = env_float("WHISPER_MIN_CONTEXT", 15.0)  # seconds the encoder sees at least; 30 = no trim
# When the service is short of CPU (a request queued, or its session is behind): cheaper decodes.
WHISPER_BUSY_BEAM_SIZE = env_int("WHISPER_BUSY_BEAM_SIZE", 1)
WHISPER_BUSY_MIN_CONTEXT = env_float("WHISPER_BUSY_MIN_CONTEXT", 10.0)
ASR_BUSY_WAIT = env_float("ASR_BUSY_WAIT", 0.25)  # seconds a request may queue before decodes get cheaper
ASR_FINAL_SLOTS = env_int("ASR_FINAL_SLOTS", 2)  # decodes each ASR worker keeps for finals (utterance ends)
ASR_PARTIAL_NICE = env_int("ASR_PARTIAL_NICE", 5)  # niceness of partial decodes: finals get the cores first
ASR_CLOSING_HEAD_START = env_float("ASR_CLOSING_HEAD_START", 2.0)  # closing partials rank as if sent this earlier

# --- Speech synthesis and replies -------------------------------------------------------------
TTS_ENGLISH_ENGINE = env_str("TTS_ENGLISH_ENGINE", "piper")  # piper | espeak | coqui
PIPER_MODEL = env_str("PIPER_MODEL") or None
PIPER_CONFIG = env_str("PIPER_CONFIG") or None
COQUI_MODEL_PATH = env_str("COQUI_MODEL_PATH") or None
COQUI_CONFIG_PATH = env_str("COQUI_CONFIG_PATH") or None
TTS_CACHE_BYTES = env_int("TTS_CACHE_BYTES", 32 * 1024 * 1024)
TTS_MAX_CHARS = env_int("TTS_MAX_CHARS", 2000)
TTS_TIMEOUT = env_float("TTS_TIMEOUT", 15.0)  # a reply part without audio this long is sent again once, then fails

RESPONDER = env_str("RESPONDER", "none")  # none | openai
RESPONDER_URL = env_str("RESPONDER_URL", "http://127.0.0.1:11434/v1/chat/completions")
RESPONDER_MODEL = env_str("RESPONDER_MODEL", "qwen2.5:3b")
RESPONDER_API_KEY = env_str("RESPONDER_API_KEY")
RESPONDER_TIMEOUT = env_float("RESPONDER_TIMEOUT", 30.0)
RESPONDER_HISTORY = env_int("RESPONDER_HISTORY", 12)
RESPONDER_SYSTEM_PROMPT = env_str(
    "RESPONDER_SYSTEM_PROMPT",
    "You are LLB, a kind and patient learning companion for school students. "
    "Answer briefly in the student's language, in two or three short sentences.",
)

WORKER_HEARTBEAT_INTERVAL = env_int("WORKER_HEARTBEAT_INTERVAL", 10)
# A live connection retries a write this long while the database is unreachable (docs/decisions/0036).
DATABASE_RETRY_WINDOW = env_float("DATABASE_RETRY_WINDOW", 30.0)
# ... and its channel-layer calls this long while Redis is unreachable (docs/decisions/0049).
REDIS_RETRY_WINDOW = env_float("REDIS_RETRY_WINDOW", 30.0)
MALLOC_TRIM_INTERVAL = env_float("MALLOC_TRIM_INTERVAL", 60.0)  # workers return free heap pages this often; 0: never
METRICS_TOKEN = env_str("METRICS_TOKEN")  # when set, /metrics and /readyz need it as a bearer
