#!/usr/bin/env bash
# The project's test command (README): builds/validates the environment, then runs the whole test suite,
# slow end-to-end tests included (they run on tiny synthetic data).
#   bash tools/run_tests.sh                 # everything
#   bash tools/run_tests.sh -m "not slow"   # the fast unit tests only
#   bash tools/run_tests.sh tests/test_models/test_utils/test_vmf.py -k grad   # any pytest arguments
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
bash tools/setup_env.sh
export PYTHONPATH="$ROOT:${PYTHONPATH:-}"
# One thread per op keeps the suite predictable on small CI machines.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
exec "$ROOT/.venv/bin/python" -m pytest "${@:-tests}"
