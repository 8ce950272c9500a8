"""The production topology on this machine: 2 daphne + N `runworker asr` + 1 `runworker tts`.

PostgreSQL (a scratch database, dropped and recreated: llb_bench) and Redis (db 7, channel and
cache prefix `llbbench`) as in docs/deployment.md; clients alternate between the two daphne
ports. For each N in --asr-workers the same figures as stream_latency/concurrency are measured
for each client count in --levels, with CPU split by process role (web / asr / tts).

    .venv/bin/python bench/production.py                          # N = 1 and 2; 1, 2, 4 clients
    .venv/bin/python bench/production.py --asr-workers 2 --levels 4 8
"""

import argparse
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, closing, contextmanager
from pathlib import Path
from typing import Any

import httpx

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    BENCH_ENV,
    ROOT,
    Emitter,
    Target,
    add_env_arg,
    add_phased_arg,
    env_settings,
    load_clip,
    log,
    machine_info,
    pid_listening_on,
    warm_up,
)
from bench.stream_latency import measure  # noqa: E402
from tests.live_server import bootstrap_login, embedded_env, login, running_server  # noqa: E402

PG_ADMIN = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-qc"]
DATABASE = "llb_bench"
DATABASE_URL = f"postgres://postgres@127.0.0.1:5432/{DATABASE}"
REDIS_URL = "redis://127.0.0.1:6379/7"
PREFIX = "llbbench"


def _psql(sql: str) -> None:
    subprocess.run([*PG_ADMIN, sql], check=True, capture_output=True, timeout=60)


def _clear_redis() -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        for key in client.scan_iter(f"{PREFIX}*", count=1000):
            client.delete(key)
    finally:
        client.close()


def _wait_ready(base: str, http: httpx.Client, asr_workers: int, limit_s: float = 180) -> None:
    """Until the web process counts every worker's heartbeat (each loads its model first)."""
    deadline = time.monotonic() + limit_s
    while True:
        health = http.get(f"{base}/api/v1/audio-streaming/sessions").json()["serviceStatus"]
        if health["transcriptionWorkers"] >= asr_workers and health["ttsWorkers"] >= 1:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"workers not ready: {health}")
        time.sleep(1)


@contextmanager
def _worker(env: dict, kind: str, log_dir: Path, index: int) -> Iterator[subprocess.Popen]:
    """One `manage.py runworker KIND`, stopped with SIGTERM (it finishes its request and goes)."""
    with (log_dir / f"worker-{kind}-{index}.log").open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "runworker", kind], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


@contextmanager
def production_target(asr_workers: int, web: int = 2, **extra: str) -> Iterator[Target]:
    """Scratch database + Redis prefix, `web` daphne processes and the workers; all removed after.
    `extra` settings go to every process."""
    _psql(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
    _psql(f"CREATE DATABASE {DATABASE}")
    _clear_redis()
    try:
        with tempfile.TemporaryDirectory(prefix="llb-bench-prod-") as tmp, ExitStack() as stack:
            env = embedded_env(
                Path(tmp),
                DATABASE_URL=DATABASE_URL,
                REDIS_URL=REDIS_URL,
                CHANNEL_PREFIX=PREFIX,
                DEBUG="0",
                SECRET_KEY=secrets.token_urlsafe(40),
                NUM_WORKERS=str(asr_workers),
                **{**BENCH_ENV, **extra},
            )
            username, password = bootstrap_login(env)
            asr = [stack.enter_context(_worker(env, "asr", Path(tmp), i)).pid for i in range(asr_workers)]
            tts = [stack.enter_context(_worker(env, "tts", Path(tmp), 0)).pid]
            bases = [stack.enter_context(running_server(env)) for _ in range(web)]
            http = stack.enter_context(closing(login(bases[0], username, password)))
            _wait_ready(bases[0], http, asr_workers)
            pids = {"web": [pid_listening_on(int(b.rsplit(":", 1)[1])) for b in bases], "asr": asr, "tts": tts}
            target = Target("production", bases, http, pids=pids, asr_workers=asr_workers, env=extra)
            warm_up(target)
            yield target
    finally:
        _clear_redis()
        _psql(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--asr-workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--clip", default="long")
    parser.add_argument("--out", help="also append the JSON lines to this file")
    add_env_arg(parser, "a setting for every process")
    add_phased_arg(parser)
    args = parser.parse_args(argv)
    extra = env_settings(args)
    emit = Emitter(args.out)
    emit({"bench": "machine", **machine_info()})
    clip = load_clip(args.clip)
    records = []
    for workers in args.asr_workers:
        log(f"production: 2 daphne + {workers} asr + 1 tts worker")
        with production_target(workers, **extra) as target:
            records += [
                measure(target, clip, clients, emit, bench="production", phased=args.phased) for clients in args.levels
            ]
    return records


if __name__ == "__main__":
    main()
