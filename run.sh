#!/bin/sh
# voxloop set-up and entry points for a fresh machine (Debian, Python 3.11).
#   ./run.sh demo   install, then build the demo workspace end to end
#   ./run.sh test   install, then run lint, type checks and the whole test suite
#                   (the suite starts its own PostgreSQL and a local Spark: it needs the
#                   PostgreSQL server binaries and Java 17, which .ci/run installs on Debian)
#   ./run.sh bench  install, then run the benchmarks in bench/
set -eu
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python3}"
VENV="${VOXLOOP_VENV:-.venv}"

ensure_venv() {
    if [ ! -x "$VENV/bin/python" ]; then
        if ! "$PYTHON" -m venv "$VENV" 2>/dev/null; then
            # Debian ships venv separately; install it when we are allowed to.
            if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
                apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
                rm -rf "$VENV"
                "$PYTHON" -m venv "$VENV"
            else
                echo "error: '$PYTHON -m venv' failed; install python3-venv (sudo apt-get install python3-venv)" >&2
                exit 1
            fi
        fi
    fi
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q -e ".[dev]"
}

case "${1:-}" in
    demo)
        ensure_venv
        shift
        exec "$VENV/bin/voxloop" demo --dir "${VOXLOOP_DEMO_DIR:-demo-workspace}" "$@"
        ;;
    test)
        ensure_venv
        shift
        "$VENV/bin/ruff" check src tests bench
        "$VENV/bin/ruff" format --check src tests bench
        "$VENV/bin/mypy"
        exec "$VENV/bin/python" -m pytest "$@"
        ;;
    bench)
        ensure_venv
        shift
        exec "$VENV/bin/python" bench/bench_ingest.py "$@"
        ;;
    *)
        echo "usage: ./run.sh demo | test | bench" >&2
        exit 2
        ;;
esac
