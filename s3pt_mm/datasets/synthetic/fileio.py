"""Deterministic tokens and file writing, and atomic creation of the output directory."""
import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator, List

import cv2
import numpy as np

JPEG_QUALITY = 92


def make_token(*keys) -> str:
    """A 32-hex-digit token that is a pure function of ``keys`` (so the same seed gives the same tables)."""
    return hashlib.md5('/'.join(str(k) for k in keys).encode()).hexdigest()


def write_table(version_dir: Path, name: str, records: List[dict]) -> None:
    """Write one database table ``<version_dir>/<name>.json``."""
    version_dir.mkdir(parents=True, exist_ok=True)
    with open(version_dir / f'{name}.json', 'w') as f:
        json.dump(records, f, indent=0)


def write_jpeg(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]):
        raise OSError(f'could not write {path}')


def write_png(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), image):
        raise OSError(f'could not write {path}')


def _is_non_empty_dir(path: Path) -> bool:
    return path.is_dir() and any(path.iterdir())


@contextlib.contextmanager
def atomic_output_dir(out_dir, overwrite: bool = False) -> Iterator[Path]:
    """Yield a fresh temporary directory next to ``out_dir`` and move it to ``out_dir`` on success.

    Nothing is left behind on failure. An existing non-empty ``out_dir`` raises ``FileExistsError``
    unless ``overwrite``, in which case it is replaced only once the new content is complete.
    """
    out_dir = Path(out_dir).resolve()
    if out_dir.exists() and not out_dir.is_dir():
        raise FileExistsError(f'{out_dir} exists and is not a directory')
    if _is_non_empty_dir(out_dir) and not overwrite:
        raise FileExistsError(f'{out_dir} already exists and is not empty; choose another directory or '
                              f'pass overwrite=True (--overwrite on the command line) to replace it')
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f'.{out_dir.name}.partial-', dir=out_dir.parent))
    try:
        os.chmod(tmp, 0o755)
        yield tmp
        _move_replacing(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _move_replacing(new: Path, target: Path) -> None:
    """Rename directory ``new`` to ``target``; an existing ``target`` is deleted only after the swap."""
    if not target.exists():
        os.rename(new, target)
        return
    trash = Path(tempfile.mkdtemp(prefix=f'.{target.name}.old-', dir=target.parent))
    try:
        os.rename(target, trash / target.name)
        try:
            os.rename(new, target)
        except BaseException:
            os.rename(trash / target.name, target)
            raise
    finally:
        shutil.rmtree(trash, ignore_errors=True)
