"""Atomic file output: write to a temporary file next to the target, then rename it into place.

An interrupted converter, training run, sweep, report or data generation therefore never leaves a
half-written file behind, and "the file exists" means "the file is complete" (what the resuming
converters and the learning-rate sweep rely on). Every writer of the project goes through
:func:`atomic_path`, and whole output folders through :func:`atomic_output_dir`.

Standard library only (OpenCV is imported by the image writers when called), so that the synthetic data
generator can use it without the OpenMMLab stack.
"""
import json
import os
import os.path as osp
import pickle
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence, Union

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextmanager
def atomic_path(path: str):
    """Yield a temporary path (same folder and suffix as ``path``); it becomes ``path`` when the block
    succeeds and is removed when it fails. The file gets the usual permissions (0666 minus the umask)."""
    directory = osp.dirname(osp.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix='.tmp_', suffix=osp.splitext(path)[1])
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


def write_bytes_atomic(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, 'wb') as f:
            f.write(data)


def write_text_atomic(path: str, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    write_bytes_atomic(path, text.encode())


def write_json_atomic(path: str, obj: Any) -> None:
    """``json.dump`` ``obj`` (indented) to ``path`` atomically."""
    write_text_atomic(path, json.dumps(obj, indent=2) + '\n')


def _write_image_atomic(path: str, image, extension: str, params: Sequence[int] = ()) -> None:
    """Encode ``image`` with OpenCV into ``extension``'s format and write it to ``path`` atomically;
    ``ValueError`` naming the file when OpenCV cannot encode it."""
    import cv2
    ok, encoded = cv2.imencode(extension, image, list(params))
    if not ok:
        raise ValueError(f'{extension[1:].upper()} encoding failed for {path}')
    write_bytes_atomic(path, encoded.tobytes())


def write_png_atomic(path: str, image) -> None:
    """Encode ``image`` (uint8 BGR/gray or uint16 gray array) as PNG and write it to ``path`` atomically;
    ``ValueError`` naming the file when OpenCV cannot encode it."""
    _write_image_atomic(path, image, '.png')


def write_jpeg_atomic(path: str, image, quality: int = 95) -> None:
    """Encode ``image`` (uint8 BGR or gray array) as JPEG of the given quality and write it to ``path``
    atomically; ``ValueError`` naming the file when OpenCV cannot encode it."""
    import cv2
    _write_image_atomic(path, image, '.jpg', (cv2.IMWRITE_JPEG_QUALITY, quality))


def dump_pickle_atomic(path: str, obj: Any) -> None:
    """Pickle ``obj`` (highest protocol) to ``path`` atomically."""
    write_bytes_atomic(path, pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))


def _is_non_empty_dir(path: Path) -> bool:
    return path.is_dir() and any(path.iterdir())


@contextmanager
def atomic_output_dir(out_dir: Union[str, Path], overwrite: bool = False) -> Iterator[Path]:
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
