#!/usr/bin/env bash
# Install hwdrivers into .venv, create the embedded SQLite database and start
# the all-in-one service. The README's first command. Pass extra arguments
# to the server (e.g. --config-file /etc/hwdrivers/hwdrivers.conf).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip setuptools wheel
.venv/bin/python -m pip install -q -e .
.venv/bin/hwdrivers-dbsync "$@" upgrade
exec .venv/bin/hwdrivers-server "$@"
