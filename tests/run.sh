#!/usr/bin/env bash
# Runs the whole test suite from a fresh clone: venv, test extras, a Redis server, pytest.
# Uses the Redis on 127.0.0.1:6379 when it answers; otherwise starts a private one on
# 127.0.0.1:6390 and stops it after. Installs redis-server with apt-get when it is missing
# (the cluster tests start their own servers).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
if ! .venv/bin/python -c "import bot, pytest, twilio, telesign, hypothesis, xdist" 2>/dev/null \
   || [ pyproject.toml -nt .venv/.installed ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[test]'
  touch .venv/.installed
fi

redis_answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1" && printf 'PING\r\n' >&3 && \
  timeout 2 head -c 5 <&3 | grep -q PONG) 2>/dev/null; }

# The cluster tests start their own redis-server processes: it must be installed either way.
if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server
fi

STARTED=""
if [ -z "${REDIS_TEST_URL:-}" ]; then
  if redis_answers 6379; then
    export REDIS_TEST_URL="redis://127.0.0.1:6379/15"
  else
    DIR=$(mktemp -d)
    redis-server --port 6390 --bind 127.0.0.1 --save "" --appendonly no --dir "$DIR" \
      --daemonize yes --pidfile "$DIR/redis.pid" --logfile "$DIR/redis.log"
    STARTED="$DIR"
    for _ in $(seq 50); do redis_answers 6390 && break; sleep 0.1; done
    export REDIS_TEST_URL="redis://127.0.0.1:6390/15"
  fi
fi
# The browser test drives the distribution's Chromium (Playwright's own browser download
# needs the internet); install it the same way when it is missing.
if [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ] && ! command -v chromium >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
fi

cleanup() { if [ -n "$STARTED" ]; then kill "$(cat "$STARTED/redis.pid")" 2>/dev/null || true; fi; }
trap cleanup EXIT

# Property tests try hypothesis' usual 100 examples here (a bare `pytest` tries 30); the
# tests run in one worker process per core (pyproject's addopts: `-n auto`).
.venv/bin/python -m pytest --hypothesis-profile=thorough "$@"
