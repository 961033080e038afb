#!/usr/bin/env bash
# Install hwdrivers into .venv, create the embedded SQLite database and start
# the all-in-one service. The README's first command. Pass extra arguments
# to the server (e.g. --config-file /etc/hwdrivers/hwdrivers.conf, --port 6390);
# --config-file is passed to the migration too.
# Each step says what it does: a first run spends a minute or two installing.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
say() { printf 'serve.sh: %s\n' "$*" >&2; }

if [ ! -x .venv/bin/python ]; then
    say "creating the virtualenv .venv with $PYTHON"
    "$PYTHON" -m venv .venv
fi
# Reinstall only when the package's metadata changed since the last install
# (an editable install picks up code changes by itself).
stamp=.venv/.hwdrivers-installed
if [ ! -f "$stamp" ] || [ setup.cfg -nt "$stamp" ] || [ setup.py -nt "$stamp" ] \
        || [ ! -x .venv/bin/hwdrivers-server ]; then
    say "installing hwdrivers and its dependencies into .venv (quiet; a first run takes a minute or two)"
    started=$SECONDS
    log=.venv/pip-install.log
    # pip's and setuptools' own chatter goes to the log, shown if it fails.
    if ! { .venv/bin/python -m pip install -q --upgrade pip setuptools wheel \
           && .venv/bin/python -m pip install -q -e .; } >"$log" 2>&1; then
        tail -n 30 "$log" >&2
        say "installing failed; the whole output is in $log"
        exit 1
    fi
    touch "$stamp"
    say "installed in $((SECONDS - started)) s"
else
    say "hwdrivers is already installed in .venv (setup.cfg unchanged)"
fi

# hwdrivers-dbsync takes the config files only, not the server's other flags.
dbsync_args=()
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
    case "${args[i]}" in
        --config-file|--config-dir)
            dbsync_args+=("${args[i]}" "${args[i + 1]:-}")
            i=$((i + 1)) ;;
        --config-file=*|--config-dir=*)
            dbsync_args+=("${args[i]}") ;;
    esac
done
say "migrating the database (hwdrivers-dbsync upgrade)"
.venv/bin/hwdrivers-dbsync "${dbsync_args[@]}" upgrade
say "starting hwdrivers-server; it prints the URL it serves on (Ctrl-C stops it)"
exec .venv/bin/hwdrivers-server "$@"
