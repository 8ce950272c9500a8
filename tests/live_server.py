"""A real daphne server in a subprocess, configured only through the environment."""

import os
import re
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
DAPHNE = Path(sys.executable).parent / "daphne"
# As in the Makefile and docs/deployment.md: daphne's default 1 MiB would cut the protocol's
# largest message (docs/decisions/0034-websocket-message-size.md).
WEBSOCKET_LIMIT = 4 * 1024 * 1024


def daphne_command(port: int) -> list[str]:
    limit = str(WEBSOCKET_LIMIT)
    return [
        str(DAPHNE),
        *("-b", "127.0.0.1", "-p", str(port)),
        *("--websocket-max-message-size", limit, "--websocket-max-frame-size", limit),
        "llb.asgi:application",
    ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def manage(env: dict, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def embedded_env(data_dir: Path, **extra: str) -> dict:
    """The `make run` environment: no DATABASE_URL / REDIS_URL, so SQLite and in-memory layer."""
    test_only = {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "SECRET_KEY", "CHANNEL_PREFIX"}
    env = {"MALLOC_ARENA_MAX": "2", **{k: v for k, v in os.environ.items() if k not in test_only}}
    return {**env, "DEBUG": "1", "LLB_DATA_DIR": str(data_dir), "DJANGO_SETTINGS_MODULE": "llb.settings", **extra}


def bootstrap_login(env: dict) -> tuple[str, str]:
    manage(env, "migrate", "--noinput")
    printed = manage(env, "bootstrap")
    match = re.search(r"Log in as '(\w+)' with password: (\S+)", printed)
    assert match, printed
    return match.group(1), match.group(2)


@contextmanager
def running_server(env: dict):
    """Start daphne on a free port; yield its base URL; stop it afterwards."""
    with daphne_process(env) as (base, _):
        yield base


@contextmanager
def daphne_process(env: dict, port: int | None = None):
    """Start daphne on `port` (a free one by default); yield its base URL and its process (a test
    may kill it); stop it afterwards."""
    port = port or free_port()
    log = open(Path(env.get("LLB_DATA_DIR", "/tmp")) / f"daphne-{port}.log", "w")  # noqa: SIM115
    process = subprocess.Popen(
        daphne_command(port),
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, Path(log.name).read_text()
        try:
            httpx.get(f"{base}/accounts/login/", timeout=1)
            break
        except httpx.TransportError:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)
    try:
        yield base, process
    finally:
        process.terminate()
        process.wait(10)
        log.close()


def login(base: str, username: str, password: str) -> httpx.Client:
    """A logged-in browser-like HTTP client (session cookie + CSRF cookie)."""
    client = httpx.Client(base_url=base, follow_redirects=True, timeout=30)
    client.get("/accounts/login/")
    response = client.post(
        "/accounts/login/",
        data={
            "username": username,
            "password": password,
            "csrfmiddlewaretoken": client.cookies["csrftoken"],
        },
        headers={"Referer": f"{base}/accounts/login/"},
    )
    assert response.status_code == 200 and "sessionid" in client.cookies, response.text[:500]
    return client
