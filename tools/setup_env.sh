#!/usr/bin/env bash
# Build the s3pt_mm environment from nothing into .venv/ at the repository root.
#
#   bash tools/setup_env.sh          # idempotent: a second run checks the stamp and returns in seconds
#   S3PT_FORCE_SETUP=1 bash ...      # rebuild the venv contents (the cached mmcv wheel is reused)
#
# Steps (each named in the log, and named again if it fails):
#   1. venv         python3.11 -m venv .venv
#   2. torch        requirements/torch.txt (CUDA builds of torch 2.14.1 / torchvision 0.29.1; run on CPU too)
#   3. mmcv         mmcv 2.1.0 built from source with its compiled ops, cached as a wheel under
#                   $S3PT_CACHE (default ~/.cache/s3pt_mm/wheels), keyed by torch version, python version
#                   and op flavour: CPU ops on a machine without nvcc/GPU, CPU+CUDA ops for the local GPU's
#                   architecture otherwise. The first CPU build takes ~15 min on 2 cores.
#   4. openmmlab    requirements/openmmlab.txt under requirements/constraints.txt
#   5. s3pt_mm      pip install -e . and requirements/tests.txt
#   6. check        imports s3pt_mm, mmpretrain.models, mmseg.models, mmdet3d.models
set -Eeuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
CACHE="${S3PT_CACHE:-$HOME/.cache/s3pt_mm}"
PYTHON_BIN="${S3PT_PYTHON:-python3.11}"
MMCV_VERSION=2.1.0
STEP="start"

step() { STEP="$1"; echo "[setup_env] ($(date +%H:%M:%S)) step: $1"; }
trap 'echo "[setup_env] FAILED at step: ${STEP} (see the output above)" >&2' ERR

# The stamp records everything the environment is built from; a matching stamp plus a passing import
# check means there is nothing to do.
stamp_of() {
    cat "$ROOT"/requirements/*.txt "$ROOT/tools/setup_env.sh" "$ROOT/setup.py" | sha256sum | cut -d' ' -f1
}
STAMP_FILE="$VENV/.s3pt_env_stamp"
STAMP="$(stamp_of)"
check_imports() {
    "$VENV/bin/python" -c "import s3pt_mm, mmpretrain.models, mmseg.models, mmdet3d.models, nuscenes" 2>/dev/null
}
if [[ -z "${S3PT_FORCE_SETUP:-}" && -f "$STAMP_FILE" && "$(cat "$STAMP_FILE")" == "$STAMP" ]] && check_imports; then
    echo "[setup_env] environment in $VENV is up to date"
    exit 0
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
"${PIP[@]}" install -q --upgrade pip
"${PIP[@]}" install -q "setuptools>=77.0.3,<82" wheel

step "torch"
"${PIP[@]}" install -q -r "$ROOT/requirements/torch.txt" "numpy<2"

step "mmcv"
PYTAG="$("$VENV/bin/python" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')"
TORCH_VERSION="$("$VENV/bin/python" -c 'import torch; print(torch.__version__.split("+")[0])')"
if command -v nvcc >/dev/null && command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
    # Build the CUDA ops for the local GPU (mmdet's focal loss used by PETR needs them on GPU tensors).
    CUDA_ARCH="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -n1 | tr -d ' ')"
    FLAVOUR="cuda${CUDA_ARCH/./}"
    export FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST="$CUDA_ARCH"
else
    FLAVOUR="cpu"
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
"${PIP[@]}" install -q "${CONSTRAINTS[@]}" "setuptools>=77.0.3,<82" addict packaging pyyaml yapf opencv-python

step "openmmlab"
"${PIP[@]}" install -q "${CONSTRAINTS[@]}" -r "$ROOT/requirements/openmmlab.txt"

step "s3pt_mm"
"${PIP[@]}" install -q "${CONSTRAINTS[@]}" -r "$ROOT/requirements/runtime.txt" -r "$ROOT/requirements/tests.txt"
"${PIP[@]}" install -q "${CONSTRAINTS[@]}" --no-deps -e "$ROOT"

step "check"
"$VENV/bin/python" - <<'PY'
import mmcv, torch
from mmcv.ops import nms  # noqa: F401  (fails without the compiled ops)
import s3pt_mm, mmpretrain.models, mmseg.models, mmdet3d.models, nuscenes  # noqa: F401
print(f"[setup_env] torch {torch.__version__}, mmcv {mmcv.__version__} with ops, s3pt_mm {s3pt_mm.__version__}")
PY
echo "$STAMP" > "$STAMP_FILE.tmp" && mv "$STAMP_FILE.tmp" "$STAMP_FILE"
echo "[setup_env] done: $VENV"
