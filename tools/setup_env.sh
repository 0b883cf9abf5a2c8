#!/usr/bin/env bash
# Build the s3pt_mm environment from nothing into .venv/ at the repository root.
#
#   bash tools/setup_env.sh          # the locked environment; idempotent: a second run checks and returns in seconds
#   bash tools/setup_env.sh --relock # re-resolve requirements/*.txt (the newest versions they allow) into a new
#                                    # .venv and rewrite requirements/lock.txt; then run the tests and commit it
#   S3PT_FORCE_SETUP=1 bash ...      # reinstall the venv contents (the cached mmcv wheel is reused)
#
# Steps (each named in the log, and named again if it fails):
#   1. venv         python3.11 -m venv .venv
#   2. packages     locked (default): every distribution of requirements/lock.txt, exactly, without
#                   resolution (pip install --no-deps); --relock: torch from requirements/torch.txt
#   3. mmcv         mmcv 2.1.0 built from source with its compiled ops, cached as a wheel under
#                   $S3PT_CACHE (default ~/.cache/s3pt_mm/wheels), keyed by torch version, python version
#                   and op flavour: CPU ops on a machine without nvcc/GPU, CPU+CUDA ops for the local GPU's
#                   architecture and nvcc's CUDA version otherwise ("cuda13.0-sm90"). The flavour is part of
#                   the stamp: a venv built without CUDA ops is rebuilt when the script runs on a GPU node.
#                   The first CPU build takes ~15 min on 2 cores.
#   4. openmmlab    --relock only: requirements/openmmlab.txt under requirements/constraints.txt
#   5. s3pt_mm      pip install -e . (--relock: and requirements/runtime.txt, requirements/tests.txt)
#   6. lock         locked: the venv is made to match the lock (the mmcv build's tools removed) and checked
#                   with tools/env_lock.py; --relock: requirements/lock.txt rewritten from the venv
#   7. check        imports s3pt_mm, mmpretrain.models, mmseg.models, mmdet3d.models; mmcv's ops of the flavour
set -Eeuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
CACHE="${S3PT_CACHE:-$HOME/.cache/s3pt_mm}"
PYTHON_BIN="${S3PT_PYTHON:-python3.11}"
MMCV_VERSION=2.1.0
STEP="start"
LOCK="$ROOT/requirements/lock.txt"
RELOCK=""
case "${1:-}" in
    "") ;;
    --relock) RELOCK=1 ;;
    *) echo "usage: bash tools/setup_env.sh [--relock]" >&2; exit 2 ;;
esac

step() { STEP="$1"; echo "[setup_env] ($(date +%H:%M:%S)) step: $1"; }
trap 'echo "[setup_env] FAILED at step: ${STEP} (see the output above)" >&2' ERR

# The mmcv ops flavour this machine needs: "cpu", or CUDA ops for the local GPU's architecture built with the
# local nvcc ("cuda13.0-sm90"). Part of the stamp, so a venv built on a CPU machine (CPU ops only) is rebuilt
# with CUDA ops when the script runs on a GPU node, and of the mmcv wheel cache key.
if command -v nvcc >/dev/null && command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
    CUDA_ARCH="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -n1 | tr -d ' ')"
    NVCC_CUDA="$(nvcc --version | sed -n 's/.*release \([0-9][0-9.]*\).*/\1/p' | head -n1)"
    FLAVOUR="cuda${NVCC_CUDA}-sm${CUDA_ARCH/./}"
else
    CUDA_ARCH="" NVCC_CUDA=""
    FLAVOUR="cpu"
fi

# The stamp records everything the environment is built from (and the mmcv ops flavour); a matching stamp
# plus a passing import check (and mmcv's ops of that flavour) means there is nothing to do.
stamp_of() {
    { cat "$ROOT"/requirements/*.txt "$ROOT/tools/setup_env.sh" "$ROOT/setup.py"; echo "mmcv-ops=$FLAVOUR"; } \
        | sha256sum | cut -d' ' -f1
}
STAMP_FILE="$VENV/.s3pt_env_stamp"
STAMP="$(stamp_of)"
check_imports() {
    "$VENV/bin/python" -c "import s3pt_mm, mmpretrain.models, mmseg.models, mmdet3d.models, nuscenes" 2>/dev/null
}
# The installed mmcv's ops: CUDA ones ("not available" = built without CUDA) where the flavour asks for them.
ops_match() {
    [[ "$FLAVOUR" == cpu ]] || [[ "$("$VENV/bin/python" -c \
        'from mmcv.ops import get_compiling_cuda_version as v; print(v())' 2>/dev/null)" == "$NVCC_CUDA" ]]
}
lock_matches() {
    "$VENV/bin/python" "$ROOT/tools/env_lock.py" check --lock "$LOCK" >/dev/null 2>&1
}
if [[ -z "$RELOCK" && -z "${S3PT_FORCE_SETUP:-}" && -f "$STAMP_FILE" && "$(cat "$STAMP_FILE")" == "$STAMP" ]] \
        && check_imports && ops_match && lock_matches; then
    echo "[setup_env] environment in $VENV is up to date (matches requirements/lock.txt)"
    exit 0
fi
if [[ -n "$RELOCK" && -d "$VENV" ]]; then
    # A resolve into an existing venv keeps what is already there: re-resolve from an empty one.
    echo "[setup_env] --relock: removing $VENV to resolve from nothing"
    rm -rf "$VENV"
fi

step "venv"
command -v "$PYTHON_BIN" >/dev/null || { echo "[setup_env] $PYTHON_BIN not found (set S3PT_PYTHON)" >&2; false; }
# A fresh venv holds ~7.7 GB (the CUDA torch build is most of it); pip fails half-way with "No space left on
# device" otherwise, so check before the first install rather than after.
NEED_GB="${S3PT_MIN_FREE_GB:-9}"
if ! { [[ -x "$VENV/bin/python" ]] && "$VENV/bin/python" -c "import torch" 2>/dev/null; }; then
    mkdir -p "$VENV"
    FREE_GB="$(df -Pk "$VENV" | awk 'NR==2 {print int($4 / 1048576)}')"
    if (( FREE_GB < NEED_GB )); then
        echo "[setup_env] $VENV needs about $NEED_GB GB free for torch and the OpenMMLab stack; its filesystem" \
             "has $FREE_GB GB (free some space, or set S3PT_MIN_FREE_GB if you know better)" >&2
        false
    fi
fi
[[ -x "$VENV/bin/python" ]] || "$PYTHON_BIN" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
CONSTRAINTS=(-c "$ROOT/requirements/constraints.txt")
if [[ -n "$RELOCK" ]]; then
    step "packages (resolve: torch)"
    "${PIP[@]}" install -q --upgrade pip
    "${PIP[@]}" install -q "setuptools>=77.0.3,<82" wheel
    "${PIP[@]}" install -q -r "$ROOT/requirements/torch.txt" "numpy<2"
else
    step "packages (requirements/lock.txt)"
    [[ -f "$LOCK" ]] || { echo "[setup_env] $LOCK not found (bash tools/setup_env.sh --relock writes it)" >&2; false; }
    # pip first, at its locked version, then everything else exactly as locked: no resolution at all.
    "${PIP[@]}" install -q --no-deps "$(grep -E '^pip==' "$LOCK")"
    "${PIP[@]}" install -q --no-deps -r "$LOCK"
fi

step "mmcv"
PYTAG="$("$VENV/bin/python" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')"
TORCH_VERSION="$("$VENV/bin/python" -c 'import torch; print(torch.__version__.split("+")[0])')"
if [[ "$FLAVOUR" != cpu ]]; then
    # Build the CUDA ops for the local GPU (mmdet's focal loss used by PETR needs them on GPU tensors).
    export FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST="$CUDA_ARCH"
else
    export FORCE_CUDA=0
fi
WHEEL_DIR="$CACHE/wheels/mmcv-$MMCV_VERSION-torch$TORCH_VERSION-$PYTAG-$FLAVOUR"
if ! ls "$WHEEL_DIR"/mmcv-*.whl >/dev/null 2>&1; then
    echo "[setup_env] building mmcv $MMCV_VERSION ($FLAVOUR ops) into $WHEEL_DIR; this takes ~15 min on 2 cores"
    BUILD_DIR="$(mktemp -d)"
    "${PIP[@]}" install -q -r "$ROOT/requirements/build.txt"
    # mmcv's setup.py imports torch, so the sdist is fetched without build isolation.
    "${PIP[@]}" download -q --no-deps --no-binary mmcv --no-build-isolation "mmcv==$MMCV_VERSION" -d "$BUILD_DIR"
    tar -xzf "$BUILD_DIR"/mmcv-$MMCV_VERSION.tar.gz -C "$BUILD_DIR"
    # torch >= 2.6 headers need C++20; mmcv 2.1.0 asks the compiler for C++17.
    sed -i 's/-std=c++17/-std=c++20/g' "$BUILD_DIR/mmcv-$MMCV_VERSION/setup.py"
    MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
        "${PIP[@]}" wheel -v --no-deps --no-build-isolation "$BUILD_DIR/mmcv-$MMCV_VERSION" -w "$BUILD_DIR/wheel" \
        > "$BUILD_DIR/build.log" 2>&1 || { tail -n 60 "$BUILD_DIR/build.log" >&2; false; }
    mkdir -p "$CACHE/wheels"
    # Publish the wheel atomically: a directory rename, so an interrupted build never leaves a half wheel.
    rm -rf "$WHEEL_DIR.tmp" && mkdir -p "$WHEEL_DIR.tmp" && cp "$BUILD_DIR"/wheel/mmcv-*.whl "$WHEEL_DIR.tmp/"
    rm -rf "$WHEEL_DIR" && mv "$WHEEL_DIR.tmp" "$WHEEL_DIR"
    rm -rf "$BUILD_DIR"
fi
"${PIP[@]}" install -q --no-deps --force-reinstall "$WHEEL_DIR"/mmcv-*.whl
# The build's tools are not part of the environment: ninja goes, setuptools returns below 82.
"${PIP[@]}" uninstall -q -y ninja 2>/dev/null || true
if [[ -n "$RELOCK" ]]; then
    "${PIP[@]}" install -q "${CONSTRAINTS[@]}" "setuptools>=77.0.3,<82" addict packaging pyyaml yapf opencv-python

    step "openmmlab"
    "${PIP[@]}" install -q "${CONSTRAINTS[@]}" -r "$ROOT/requirements/openmmlab.txt"
fi

step "s3pt_mm"
if [[ -n "$RELOCK" ]]; then
    "${PIP[@]}" install -q "${CONSTRAINTS[@]}" -r "$ROOT/requirements/runtime.txt" -r "$ROOT/requirements/tests.txt"
fi
"${PIP[@]}" install -q "${CONSTRAINTS[@]}" --no-deps -e "$ROOT"

step "lock"
if [[ -n "$RELOCK" ]]; then
    "$VENV/bin/python" "$ROOT/tools/env_lock.py" write --lock "$LOCK"
else
    # Exactly the lock: versions the build changed go back, distributions it does not list go.
    "${PIP[@]}" install -q --no-deps -r "$LOCK"
    EXTRA="$("$VENV/bin/python" "$ROOT/tools/env_lock.py" check --lock "$LOCK" 2>&1 \
             | sed -n 's/^ *not in the lock: \([^=]*\)==.*/\1/p')"
    [[ -z "$EXTRA" ]] || "${PIP[@]}" uninstall -q -y $EXTRA
    "$VENV/bin/python" "$ROOT/tools/env_lock.py" check --lock "$LOCK"
fi
"${PIP[@]}" check

step "check"
S3PT_MMCV_FLAVOUR="$FLAVOUR" "$VENV/bin/python" - <<'PY'
import os
import mmcv, torch
from mmcv.ops import nms  # noqa: F401  (fails without the compiled ops)
import s3pt_mm, mmpretrain.models, mmseg.models, mmdet3d.models, nuscenes  # noqa: F401
from s3pt_mm.utils.runner import mmcv_ops_flavour
wanted, built = os.environ['S3PT_MMCV_FLAVOUR'], mmcv_ops_flavour()
if built != wanted.split('-')[0]:
    raise SystemExit(f"[setup_env] mmcv's ops are '{built}', this machine needs '{wanted}'")
print(f"[setup_env] torch {torch.__version__}, mmcv {mmcv.__version__} with {built} ops, s3pt_mm {s3pt_mm.__version__}")
PY
STAMP="$(stamp_of)"  # --relock rewrote requirements/lock.txt
echo "$STAMP" > "$STAMP_FILE.tmp" && mv "$STAMP_FILE.tmp" "$STAMP_FILE"
echo "[setup_env] done: $VENV"
