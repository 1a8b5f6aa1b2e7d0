#!/usr/bin/env bash
# The test command (README, .ci/run): a venv with the project, a reachable PostgreSQL and
# Redis, then ruff, mypy on ccr/ and pytest. Works on a fresh clone on Debian: whatever is
# missing is installed with apt-get, and servers it has to start are thrown away on exit.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k accounts -x`.
set -euo pipefail
cd "$(dirname "$0")/.."

PG_DEFAULT_URL="postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_DEFAULT_URL="redis://127.0.0.1:6379/0"
CLEANUP=()

cleanup() {
    local step
    for step in "${CLEANUP[@]}"; do
        eval "$step" >/dev/null 2>&1 || true
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM  # so the EXIT trap runs on Ctrl-C and kill too

log() { echo "==> $*" >&2; }

APT_UPDATED=""
apt_install() {
    if [ -z "$APT_UPDATED" ]; then
        apt-get update -qq
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

free_port() {
    .venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# --- Python: a venv of our own with the project and its test extras -----------------------
ensure_venv() {
    if ! command -v python3 >/dev/null; then
        log "installing python3"
        apt_install python3 python3-venv python3-pip
    fi
    python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || { echo "python3 >= 3.11 is required, found $(python3 --version)" >&2; exit 1; }
    if [ ! -x .venv/bin/python ]; then
        log "creating .venv"
        # Debian's python3 lacks ensurepip until python3-venv is installed.
        python3 -m venv .venv 2>/dev/null || { rm -rf .venv; apt_install python3-venv; python3 -m venv .venv; }
    fi
    log "installing the project with its test extras"
    .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
}

# --- PostgreSQL: the running one on 127.0.0.1:5432, else a throw-away cluster ---------------
pg_answers() {
    .venv/bin/python - "$1" <<'PY'
import asyncio, sys
import asyncpg

async def main() -> None:
    conn = await asyncpg.connect(sys.argv[1], timeout=3)
    await conn.close()

try:
    asyncio.run(main())
except Exception:
    sys.exit(1)
PY
}

pg_bindir() {
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

start_throwaway_postgres() {
    if [ -z "$(pg_bindir)" ]; then
        log "installing postgresql"
        apt_install postgresql
    fi
    local bin dir port as_pg=()
    bin="$(pg_bindir)"
    dir="$(mktemp -d /tmp/ccr-test-pg.XXXXXX)"
    port="$(free_port)"
    if [ "$(id -u)" = 0 ]; then
        # initdb refuses to run as root; Debian's package created the postgres user.
        chown postgres: "$dir"
        as_pg=(runuser -u postgres --)
    fi
    log "starting a throw-away PostgreSQL on 127.0.0.1:$port"
    "${as_pg[@]}" "$bin/initdb" -D "$dir/data" -U postgres -A trust --no-sync >/dev/null
    CLEANUP+=("${as_pg[*]} $bin/pg_ctl -D $dir/data -m immediate stop; rm -rf $dir")
    # fsync off: the data is thrown away anyway, and tests create and drop databases a lot.
    "${as_pg[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -F" start >/dev/null
    export CCR_TEST_DATABASE_URL="postgresql://postgres@127.0.0.1:$port/postgres"
}

ensure_postgres() {
    if [ -n "${CCR_TEST_DATABASE_URL:-}" ] && pg_answers "$CCR_TEST_DATABASE_URL"; then
        return
    fi
    if pg_answers "$PG_DEFAULT_URL"; then
        export CCR_TEST_DATABASE_URL="$PG_DEFAULT_URL"
        return
    fi
    start_throwaway_postgres
}

# --- Redis: the running one on 127.0.0.1:6379, else a throw-away server ----------------------
redis_answers() {
    .venv/bin/python -c 'import sys, redis; redis.Redis.from_url(sys.argv[1], socket_timeout=3).ping()' \
        "$1" >/dev/null 2>&1
}

start_throwaway_redis() {
    if ! command -v redis-server >/dev/null; then
        log "installing redis-server"
        apt_install redis-server
    fi
    local dir port
    dir="$(mktemp -d /tmp/ccr-test-redis.XXXXXX)"
    port="$(free_port)"
    log "starting a throw-away Redis on 127.0.0.1:$port"
    redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no --daemonize yes \
        --dir "$dir" --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
    CLEANUP+=("kill \$(cat $dir/redis.pid); rm -rf $dir")
    export CCR_TEST_REDIS_URL="redis://127.0.0.1:$port/0"
    for _ in $(seq 50); do
        redis_answers "$CCR_TEST_REDIS_URL" && return
        sleep 0.1
    done
    echo "the throw-away Redis did not answer; see $dir/redis.log" >&2
    exit 1
}

ensure_redis() {
    if [ -n "${CCR_TEST_REDIS_URL:-}" ] && redis_answers "$CCR_TEST_REDIS_URL"; then
        return
    fi
    if redis_answers "$REDIS_DEFAULT_URL"; then
        export CCR_TEST_REDIS_URL="$REDIS_DEFAULT_URL"
        return
    fi
    start_throwaway_redis
}

# --- The email channel's tests read a real mailbox: Debian's Dovecot, started by the tests
# themselves as a throw-away server (tests/imap_helpers.py); no system daemon is enabled.
ensure_dovecot() {
    if [ ! -x /usr/sbin/dovecot ]; then
        log "installing dovecot-imapd"
        apt_install dovecot-imapd
    fi
}

# --- Browser tests only: Debian's Chromium, and npm (the tests fetch axe-core with it) ------
ensure_browser_tools() {
    if [ ! -x /usr/bin/chromium ]; then
        log "installing chromium"
        apt_install chromium fonts-liberation  # fonts: screenshots need real glyphs
    fi
    if ! command -v npm >/dev/null; then
        log "installing npm"
        apt_install npm
    fi
}

ensure_venv
ensure_postgres
ensure_dovecot
ensure_redis
if [ -d tests/browser ]; then
    ensure_browser_tools
fi

# --- docker-compose files: validated offline (no Docker engine needed) ----------------------
check_compose() {
    if ! command -v docker-compose >/dev/null; then
        log "installing docker-compose (to validate the compose files)"
        apt_install docker-compose
    fi
    log "docker-compose config (production, then with the dev override)"
    SECRET_KEY=validate-only SMTP_URL=smtp://mail:1025 docker-compose -f docker-compose.yml config -q
    SECRET_KEY=validate-only SMTP_URL=smtp://mail:1025 \
        docker-compose -f docker-compose.yml -f docker-compose.dev.yml config -q
    # The production file must refuse to start without a real secret.
    if env -u SECRET_KEY SMTP_URL=smtp://mail:1025 docker-compose -f docker-compose.yml config -q 2>/dev/null; then
        echo "docker-compose.yml accepted a missing SECRET_KEY" >&2
        exit 1
    fi
}
check_compose

# --- Kubernetes manifests: validated offline against the API schemas kubernetes-validate
# ships (a test extra); strict, so a misspelt field fails. Kustomize's own file has no API
# schema: tests/test_k8s.py checks that it lists every manifest.
check_k8s() {
    log "kubernetes-validate --strict deploy/k8s"
    local manifests=()
    mapfile -t manifests < <(ls deploy/k8s/*.yaml | grep -v '/kustomization.yaml$')
    .venv/bin/kubernetes-validate --strict --quiet "${manifests[@]}"
}
check_k8s

log "ruff check"
.venv/bin/ruff check .
log "ruff format --check"
.venv/bin/ruff format --check .
log "mypy ccr"
.venv/bin/mypy ccr
log "pytest (PostgreSQL $CCR_TEST_DATABASE_URL, Redis $CCR_TEST_REDIS_URL)"
.venv/bin/pytest -q "$@"
