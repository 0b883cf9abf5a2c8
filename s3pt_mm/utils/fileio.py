"""Atomic file output: write to a temporary file next to the target, then rename it into place.

An interrupted converter, training run, sweep or report therefore never leaves a half-written file
behind, and "the file exists" means "the file is complete" (what the resuming converters and the
learning-rate sweep rely on). Every writer of the project goes through :func:`atomic_path`.
"""
import json
import os
import os.path as osp
import pickle
import tempfile
from contextlib import contextmanager

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


def write_json_atomic(path: str, obj) -> None:
    """``json.dump`` ``obj`` (indented) to ``path`` atomically."""
    write_text_atomic(path, json.dumps(obj, indent=2) + '\n')


def write_png_atomic(path: str, image) -> None:
    """Encode ``image`` (uint8 BGR/gray or uint16 gray array) as PNG and write it to ``path`` atomically;
    ``ValueError`` naming the file when OpenCV cannot encode it."""
    import cv2
    ok, encoded = cv2.imencode('.png', image)
    if not ok:
        raise ValueError(f'PNG encoding failed for {path}')
    write_bytes_atomic(path, encoded.tobytes())


def dump_pickle_atomic(path: str, obj) -> None:
    """Pickle ``obj`` (highest protocol) to ``path`` atomically."""
    write_bytes_atomic(path, pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))
