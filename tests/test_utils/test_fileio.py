"""Atomic writers: the target holds either its previous content or the complete new one, never a part,
and no temporary file is left behind."""
import json
import os
import pickle

import pytest

from s3pt_mm.utils import fileio


@pytest.mark.parametrize('write,read,obj', [
    (fileio.write_text_atomic, lambda p: p.read_text(), 'new text'),
    (fileio.write_bytes_atomic, lambda p: p.read_bytes(), b'\x00\x01new'),
    (fileio.write_json_atomic, lambda p: json.loads(p.read_text()), {'a': [1, 2.5]}),
    (fileio.dump_pickle_atomic, lambda p: pickle.loads(p.read_bytes()), {'x': (1, 'y')}),
])
def test_writes_replace_the_file_whole(tmp_path, monkeypatch, write, read, obj):
    target = tmp_path / 'sub' / 'out.bin'
    write(str(target), obj)
    assert read(target) == obj
    assert oct(target.stat().st_mode & 0o777) == oct(0o666 & ~fileio._UMASK)

    def failing_replace(*args, **kwargs):
        raise OSError('disk full')

    before = target.read_bytes()
    monkeypatch.setattr(fileio.os, 'replace', failing_replace)
    with pytest.raises(OSError, match='disk full'):
        write(str(target), obj)
    assert target.read_bytes() == before
    assert os.listdir(target.parent) == ['out.bin']


def test_failing_block_leaves_nothing(tmp_path):
    target = tmp_path / 'out.txt'
    with pytest.raises(RuntimeError):
        with fileio.atomic_path(str(target)) as tmp:
            with open(tmp, 'w') as f:
                f.write('half')
            raise RuntimeError('interrupted')
    assert list(tmp_path.iterdir()) == []


def test_png_round_trip_is_exact(tmp_path):
    import cv2
    import numpy as np
    depth = np.arange(12, dtype=np.uint16).reshape(3, 4) * 5000  # 16-bit depth maps keep every value
    picture = np.random.default_rng(0).integers(0, 256, (5, 6, 3), dtype=np.uint8)
    for name, image in (('depth.png', depth), ('picture.png', picture)):
        fileio.write_png_atomic(str(tmp_path / name), image)
        back = cv2.imread(str(tmp_path / name), cv2.IMREAD_UNCHANGED)
        assert back.dtype == image.dtype and (back == image).all()
    assert sorted(os.listdir(tmp_path)) == ['depth.png', 'picture.png']
