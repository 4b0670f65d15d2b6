#!/usr/bin/env bash
# The two-server demo: example_project (http://127.0.0.1:8000/books/) and remote_project
# (http://127.0.0.1:8001/), peers of one federation, each with its own SQLite database.
#
#   ./run_demo.sh                          # set up .venv if needed, migrate, seed, run
#   ./run_demo.sh --reset                  # delete both databases first, seed afresh
#   ./run_demo.sh --port-a 9000 --port-b 9001 --no-browser
#   ./run_demo.sh --help
#
# Creates .venv (python3 >= 3.11) and installs this package into it when it is missing.
# The servers run until Ctrl-C, which stops both; the data stays for the next run.
# Ports also come from $DEMO_PORT_A / $DEMO_PORT_B, the data directory from $DEMO_DATA_DIR.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'run_demo.sh: error: %s\n' "$*" >&2; exit 1; }

VENV_PY=.venv/bin/python
if [ ! -x "$VENV_PY" ]; then
    py=${PYTHON:-python3}
    command -v "$py" > /dev/null || die "'$py' not found: install Python >= 3.11 (or set PYTHON)"
    "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || die "Python >= 3.11 is required, but '$py' is $("$py" -V 2>&1)"
    log "creating .venv with $("$py" -V 2>&1)"
    "$py" -m venv .venv || die "could not create .venv (on Debian: apt-get install python3-venv)"
fi
"$VENV_PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die ".venv does not run Python >= 3.11; remove it (rm -rf .venv) and retry"

# The demo needs this package (editable, from this checkout) with its DRF extra.
if ! "$VENV_PY" - << 'EOF' 2> /dev/null
import pathlib, sys
import django, requests, rest_framework  # noqa: F401
import federated_relations
here = pathlib.Path.cwd().resolve()
sys.exit(pathlib.Path(federated_relations.__file__).resolve().parent.parent != here)
EOF
then
    log "installing this package into .venv (pip install -e '.[drf]')"
    "$VENV_PY" -m pip install --quiet --no-input --disable-pip-version-check -e ".[drf]" \
        || die "pip install -e '.[drf]' failed"
fi

# The launcher traps Ctrl-C and SIGTERM and stops both servers.
exec "$VENV_PY" example_project/launch_demo.py "$@"
