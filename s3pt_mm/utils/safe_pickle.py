"""Unpickling data files (info files) without running code: a restricted unpickler.

A pickle names functions and classes that the unpickler calls to rebuild the objects; an ordinary
``pickle.load`` calls whatever the file names (``os.system``, ...). The info files of this project and of
mmdet3d hold only builtin containers, numbers, strings and numpy arrays, dtypes and scalars, so
:class:`RestrictedUnpickler` resolves only the names those need (:data:`ALLOWED_GLOBALS`) and refuses any
other before anything of the file runs. Standard library only (numpy is imported when a file names it).
"""
import _compat_pickle
import importlib
import io
import pickle
from typing import Any, BinaryIO

#: (module, name) of every global an info file may name: builtins that rebuild containers and numbers, and
#: numpy's ndarray / dtype / scalar reconstruction (``numpy.core`` in numpy 1, ``numpy._core`` in numpy 2;
#: ``_frombuffer`` rebuilds a numeric array from its bytes in pickle protocol 5)
ALLOWED_GLOBALS = frozenset([
    ('builtins', 'set'), ('builtins', 'frozenset'), ('builtins', 'complex'), ('builtins', 'bytearray'),
    ('builtins', 'slice'), ('collections', 'OrderedDict'),
    ('numpy', 'ndarray'), ('numpy', 'dtype'),
    ('numpy.core.multiarray', '_reconstruct'), ('numpy.core.multiarray', 'scalar'),
    ('numpy.core.numeric', '_frombuffer'),
    ('numpy._core.multiarray', '_reconstruct'), ('numpy._core.multiarray', 'scalar'),
    ('numpy._core.numeric', '_frombuffer'),
])

#: the encodings under which pickle protocols 0-2 store ``bytes`` (``_codecs.encode(text, 'latin1')``)
_BYTES_ENCODINGS = ('latin1', 'latin-1')


class RefusedPickleError(pickle.UnpicklingError):
    """A pickle names a function or class outside :data:`ALLOWED_GLOBALS`; nothing of it was run.

    Attributes:
        name: the refused global, ``'module.name'`` (e.g. ``'posix.system'``).
    """

    def __init__(self, message: str, name: str):
        super().__init__(message)
        self.name = name


def _bytes_from_latin1(text: str, encoding: str) -> bytes:
    """Stands in for ``_codecs.encode`` when unpickling: how protocols 0-2 store bytes, and nothing else."""
    if encoding not in _BYTES_ENCODINGS:
        raise RefusedPickleError(f'_codecs.encode with the codec {encoding!r} (only latin1, how pickle '
                                 'stores bytes, is allowed)', '_codecs.encode')
    return text.encode(encoding)


class RestrictedUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` that resolves only :data:`ALLOWED_GLOBALS` (and ``_codecs.encode`` for latin1
    bytes); any other global raises :class:`RefusedPickleError` before it is imported or called."""

    def find_class(self, module: str, name: str):
        # Python 2 names (``__builtin__.set`` in protocols 0-2), mapped as pickle.Unpickler.find_class does;
        # the allow-list applies to the mapped name
        module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        if (module, name) == ('_codecs', 'encode'):
            return _bytes_from_latin1
        if (module, name) not in ALLOWED_GLOBALS:
            raise RefusedPickleError(
                f'{module}.{name}, which is not data (info files hold only builtin containers, numbers, '
                'strings, numpy arrays, dtypes and scalars); unpickling it could run code stored in the file '
                '(nothing of it was run)', f'{module}.{name}')
        return getattr(importlib.import_module(module), name)


def restricted_load(file: BinaryIO) -> Any:
    """``pickle.load`` with :class:`RestrictedUnpickler`.

    Raises:
        RefusedPickleError: the pickle names anything outside the allow-list.
    """
    return RestrictedUnpickler(file).load()


def restricted_loads(data: bytes) -> Any:
    """``pickle.loads`` with :class:`RestrictedUnpickler`."""
    return restricted_load(io.BytesIO(data))
