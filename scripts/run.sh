#!/usr/bin/env bash
# The run command (README): a venv with the project, then `ccr serve` on its embedded
# defaults (embedded PostgreSQL, in-process bus, emails as .eml files under .ccr/outbox).
# Extra arguments go to `ccr serve`, e.g. `bash scripts/run.sh --port 9000`.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v python3 >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >/dev/null
fi
if [ ! -x .venv/bin/python ]; then
    # Debian's python3 lacks ensurepip until python3-venv is installed.
    python3 -m venv .venv 2>/dev/null || {
        rm -rf .venv
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
        python3 -m venv .venv
    }
fi
# Install only when the project's definition (dependencies, entry points) changed since the
# last install: an unchanged project starts at once, and offline. The code itself is an
# editable install, so edits to it need no reinstall.
STAMP=.venv/.ccr-installed
WANT="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ ! -x .venv/bin/ccr ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]; then
    .venv/bin/python -m pip install -q --disable-pip-version-check -e .
    echo "$WANT" > "$STAMP"
fi
exec .venv/bin/ccr serve "$@"
