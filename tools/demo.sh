#!/usr/bin/env bash
# The README's main command: the whole method on built-in synthetic driving data (no download).
#   bash tools/demo.sh                     # S3PT
#   bash tools/demo.sh --methods s3pt dino cribo   # the three methods of the paper
# Builds the environment first if needed (tools/setup_env.sh). See tools/demo.py for the steps/options.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
bash "$ROOT/tools/setup_env.sh"
exec "$ROOT/.venv/bin/python" "$ROOT/tools/demo.py" "$@"
