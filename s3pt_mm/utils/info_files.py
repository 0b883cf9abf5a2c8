"""Info files (``*.pkl``) read without running code, wherever the configs read them.

* Our datasets read theirs with :func:`load_info_file`.
* mmengine's ``load`` of a ``.pkl`` / ``.pickle`` file goes through mmengine's pickle handler, which
  unpickles fully; :func:`restrict_info_file_loading` replaces it with :class:`RestrictedPickleHandler`
  (:mod:`.safe_pickle`'s allow-list: builtin containers, numbers, strings, numpy arrays, dtypes and
  scalars). That covers mmengine's ``BaseDataset`` (hence mmdet3d's ``NuScenesDataset`` of the PETR
  configs) and mmdet3d's ``NuScenesMetric``, which read the info files with it. It also makes their
  ``load`` name the file of a refusal. The sub-packages that read info files apply it on import
  (:mod:`s3pt_mm.datasets`, :mod:`s3pt_mm.det3d`); it is idempotent.

A refused file raises :class:`UnsafeInfoFileError`, naming the file and what it holds; nothing of it ran.
"""
import functools
import os.path as osp
from types import ModuleType
from typing import Any, Optional

from mmengine import fileio
from mmengine.fileio.handlers import PickleHandler, file_handlers

from .safe_pickle import RefusedPickleError, restricted_load, restricted_loads

#: the file extensions mmengine reads with its pickle handler
PICKLE_EXTENSIONS = ('pkl', 'pickle')


class UnsafeInfoFileError(RefusedPickleError):
    """An info file that names code to run when unpickled: refused, nothing of it ran."""

    def __init__(self, file, error: RefusedPickleError):
        super().__init__(f'{file}: refused to load this info file: it holds {error}. Create it again with '
                         'tools/create_data.py (or mmdet3d\'s converters) from the dataset', error.name)
        self.file = file


class RestrictedPickleHandler(PickleHandler):
    """mmengine's pickle handler with :class:`~.safe_pickle.RestrictedUnpickler` (writing is unchanged)."""

    def load_from_fileobj(self, file, **kwargs):
        return restricted_load(file)


def load_info_file(path: str, backend_args: Optional[dict] = None) -> Any:
    """An info file's content through ``mmengine.fileio`` (local files and the other backends): a
    pickle with the restricted unpickler, anything else (JSON, YAML) with ``mmengine.load``.

    Raises:
        UnsafeInfoFileError: the pickle names a function or class that is not data.
    """
    if osp.splitext(str(path))[1].lstrip('.') not in PICKLE_EXTENSIONS:
        return fileio.load(path, backend_args=backend_args)
    try:
        return restricted_loads(fileio.get(path, backend_args=backend_args))
    except RefusedPickleError as error:
        raise UnsafeInfoFileError(path, error) from None


def _naming_refused_file(load):
    """``load`` (mmengine's) that names the file of a refused pickle."""
    if getattr(load, 'names_refused_file', False):
        return load

    @functools.wraps(load)
    def load_naming_refused_file(file, *args, **kwargs):
        try:
            return load(file, *args, **kwargs)
        except UnsafeInfoFileError:
            raise
        except RefusedPickleError as error:
            raise UnsafeInfoFileError(file, error) from None

    load_naming_refused_file.names_refused_file = True
    return load_naming_refused_file


def restrict_info_file_loading(*modules: ModuleType) -> None:
    """Make mmengine unpickle ``.pkl`` / ``.pickle`` files with the restricted unpickler, and make the
    ``load`` of mmengine and of ``modules`` (modules that did ``from mmengine import load``, e.g.
    mmdet3d's ``nuscenes_metric``) name the file of a refusal. Idempotent."""
    import mmengine
    import mmengine.dataset.base_dataset as base_dataset
    import mmengine.fileio.io as fileio_io
    for extension in PICKLE_EXTENSIONS:
        if not isinstance(file_handlers.get(extension), RestrictedPickleHandler):
            file_handlers[extension] = RestrictedPickleHandler()
    load = _naming_refused_file(fileio_io.load)
    for module in (fileio_io, fileio, mmengine, base_dataset, *modules):
        if module.load is load.__wrapped__:  # mmengine's own load, imported before: the one wrapper
            module.load = load
        else:
            module.load = _naming_refused_file(module.load)
