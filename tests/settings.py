"""Test settings: the production parts, for real — PostgreSQL and Redis on this machine.

The defaults match the CI machine; override with TEST_DATABASE_URL / TEST_REDIS_URL.
"""

import os

os.environ["DATABASE_URL"] = os.environ.get("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
os.environ["REDIS_URL"] = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/5")
os.environ.setdefault("SECRET_KEY", "tests-only-secret-key-not-for-production-0123456789")
os.environ.setdefault("CHANNEL_PREFIX", f"llbtest{os.getpid()}")

from llb.settings import *  # noqa: E402,F403

# Workers run in-process per test (see tests/conftest.py), never from a stray first request.
EMBEDDED_WORKERS = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast user creation

# One test database per run, so runs side by side (several engineers, one machine) never share it.
DATABASES["default"]["TEST"] = {"NAME": f"test_llb_{os.getpid()}"}  # noqa: F405
