"""The restricted unpickler of info files (s3pt_mm.utils.safe_pickle): data loads, whatever else the pickle
names is refused before it runs."""
import collections
import pickle

import numpy as np
import pytest

from s3pt_mm.utils.safe_pickle import RefusedPickleError, restricted_loads
from tests.payloads import ShellPayload, TouchPayload


def _info(**entry):
    """An info dict as the converters of this project and mmdet3d write it."""
    return dict(metainfo=dict(dataset='nuscenes', version='v1.0-mini', categories={'car': 0}),
                data_list=[dict(img_path='samples/CAM_FRONT/a.jpg', timestamp=1533151603512404, height=900,
                                ego2global=[[1.0, 0.0], [0.0, 1.0]], **entry)])


@pytest.mark.parametrize('protocol', [2, pickle.HIGHEST_PROTOCOL])
def test_data_loads(protocol):
    """Builtin containers, numbers, strings, bytes, numpy arrays (numeric, string, object), dtypes and
    scalars, in mmengine's protocol (2: bytes stored through _codecs.encode) and the highest."""
    info = _info(num_lidar_pts=np.int64(12), valid=np.bool_(True), depth=np.float32(3.5),
                 box=np.arange(9, dtype=np.float32), names=np.array(['car', 'bus']), dtype=np.dtype('<f8'),
                 objects=np.array([{'a': 1}, None], dtype=object), tags={'x', 'y'}, frozen=frozenset([1]),
                 raw=b'\x00\xff', ordered=collections.OrderedDict(a=1), z=1 + 2j, none=None, flag=False)
    loaded = restricted_loads(pickle.dumps(info, protocol=protocol))
    entry, expected = loaded['data_list'][0], info['data_list'][0]
    assert loaded['metainfo'] == info['metainfo']
    for key, value in expected.items():
        if isinstance(value, np.ndarray):
            assert value.dtype == entry[key].dtype and (value == entry[key]).all(), key
        else:
            assert entry[key] == value and type(entry[key]) is type(value), key


@pytest.mark.parametrize('payload', [ShellPayload, TouchPayload])
@pytest.mark.parametrize('protocol', [0, 2, pickle.HIGHEST_PROTOCOL])
def test_code_is_refused_and_not_run(payload, protocol, tmp_path):
    marker = tmp_path / 'payload_ran'
    data = pickle.dumps(_info(extra=payload(marker)), protocol=protocol)
    with pytest.raises(RefusedPickleError) as error:
        restricted_loads(data)
    # a method is pickled as getattr(class, name) below protocol 4
    assert error.value.name in ('posix.system', 'nt.system', 'pathlib.Path.touch', 'builtins.getattr')
    assert error.value.name in str(error.value) and 'nothing of it was run' in str(error.value)
    assert not marker.exists()


class _ZlibBytes:
    def __reduce__(self):
        import _codecs
        return _codecs.encode, ('x' * 100, 'zlib')


class _ArrayOfPayload:
    """An object array whose element is a payload: its elements pass the same allow-list."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return np.array, ([TouchPayload(self.marker)], object)


def test_lookalikes_are_refused(tmp_path):
    with pytest.raises(RefusedPickleError, match="codec 'zlib'"):
        restricted_loads(pickle.dumps(_ZlibBytes(), protocol=2))
    marker = tmp_path / 'payload_ran'
    with pytest.raises(RefusedPickleError, match='numpy.*array'):  # np.array itself is not allowed
        restricted_loads(pickle.dumps(_ArrayOfPayload(marker)))
    objects = np.array([TouchPayload(marker)], dtype=object)
    with pytest.raises(RefusedPickleError, match='pathlib.Path.touch'):
        restricted_loads(pickle.dumps(objects))
    for name in (b'builtins\neval', b'builtins\ngetattr', b'numpy\nload', b'copyreg\n_reconstructor'):
        with pytest.raises(RefusedPickleError):
            restricted_loads(b'c' + name + b'\n.')
    assert not marker.exists()
