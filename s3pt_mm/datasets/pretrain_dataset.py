"""nuScenes camera images with dense LiDAR depth maps for S3PT pre-training."""
import os.path as osp
from typing import Optional, Sequence

import cv2
import numpy as np
from mmengine import fileio
from mmengine.dataset import BaseDataset
from mmpretrain.registry import DATASETS

from ..utils.info_files import load_info_file
from .transforms import LoadDepthFromFile

#: keys every ``data_list`` entry of the info file must have (``depth_path`` may be None)
REQUIRED_KEYS = ('img_path', 'depth_path', 'cam', 'sample_token', 'sample_data_token', 'timestamp',
                 'height', 'width')


class SampleLoadError(RuntimeError):
    """A training sample whose files cannot be read; the message names the info file, the sample and the
    file at fault.

    A data loader worker's exception reaches the main process as torch re-creates it, with the worker's
    whole traceback as its message (``'Caught SampleLoadError in DataLoader worker process 0.\nOriginal
    Traceback ...'``); that message is reduced to the sample's message and the worker.
    """

    def __init__(self, message):
        caught = f'Caught {type(self).__name__} '
        raised = f'{type(self).__module__}.{type(self).__qualname__}: '
        if message.startswith(caught) and raised in message:
            worker = message.split('\n', 1)[0][len(caught):].rstrip('.')
            message = f'{message.rsplit(raised, 1)[1].strip()} [{worker}]'
        super().__init__(message)


def broken_file(path: str, backend_args: Optional[dict] = None) -> Optional[str]:
    """What is wrong with an image or depth map file (read through ``mmengine.fileio``), or None if it
    decodes as an image."""
    if not fileio.exists(path, backend_args=backend_args):
        return f'missing file {path}'
    data = fileio.get(path, backend_args=backend_args)
    if not data:
        return f'empty file (0 bytes) {path}'
    if cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED) is None:
        return f'corrupt file (not a readable image) {path}'
    return None


@DATASETS.register_module()
class NuScenesPretrainDataset(BaseDataset):
    """Every camera image listed in an info file written by ``tools/create_data.py nuscenes``.

    Info file (pickle or JSON, chosen by extension)::

        {'metainfo': {'dataset': 'nuscenes', 'version': 'v1.0-trainval',
                      'depth_scale': 256.0,  # PNG units per metre
                      ...},
         'data_list': [{'img_path': 'samples/CAM_FRONT/<name>.jpg',
                        'depth_path': 'depth/CAM_FRONT/<name>.png',  # or None
                        'cam': 'CAM_FRONT', 'sample_token': ..., 'sample_data_token': ...,
                        'timestamp': ..., 'height': 900, 'width': 1600}, ...]}

    ``img_path`` and ``depth_path`` are relative to ``data_root`` joined with ``data_prefix['img_path']``
    / ``data_prefix['depth_path']``. The info file's metainfo becomes the dataset's (``metainfo`` given
    here takes precedence); each item also carries ``depth_scale`` for :class:`LoadDepthFromFile`. The
    info file is read through ``mmengine.fileio`` with ``backend_args`` (give the same to the loading
    transforms of the pipeline), a pickle without running code: one that names anything but builtin
    containers, numbers, strings and numpy data is refused
    (:class:`~s3pt_mm.utils.info_files.UnsafeInfoFileError`).

    A sample whose pipeline fails raises a :class:`SampleLoadError` naming the info file, the sample and,
    when the image or the depth map is missing, empty or corrupt (e.g. changed after create_data ran),
    that file; in a data loader worker it reaches the main process with that message.

    Args:
        ann_file (str): the info file, relative to ``data_root`` unless absolute.
        data_root (str): the nuScenes root.
        data_prefix (dict): prefixes of ``img_path`` and ``depth_path``, '' by default.
        pipeline (list[dict]): the transforms.
        backend_args (dict | None): arguments of the ``mmengine.fileio`` backend of the info file
            (None: inferred from the path, local files by default).
        **kwargs: other arguments of mmengine's ``BaseDataset`` (``metainfo``, ``indices``,
            ``lazy_init``, ...).
    """

    def __init__(self, ann_file: str, data_root: str = '', data_prefix: Optional[dict] = None,
                 pipeline: Sequence[dict] = (), backend_args: Optional[dict] = None, **kwargs):
        self.backend_args = backend_args
        data_prefix = dict(dict(img_path='', depth_path=''), **(data_prefix or {}))
        super().__init__(ann_file=ann_file, data_root=data_root, data_prefix=data_prefix,
                         pipeline=list(pipeline), **kwargs)

    def load_data_list(self) -> list:
        """Read the info file; errors name the file and, for a bad entry, its index and key."""
        if not fileio.exists(self.ann_file, backend_args=self.backend_args):
            raise FileNotFoundError(f'pre-training info file not found: {self.ann_file} (create it with '
                                    'tools/create_data.py nuscenes)')
        infos = load_info_file(self.ann_file, backend_args=self.backend_args)
        if not isinstance(infos, dict) or not isinstance(infos.get('data_list'), list):
            raise ValueError(f"{self.ann_file}: expected a dict with 'metainfo' and a 'data_list' list")
        if not infos['data_list']:
            raise ValueError(f'{self.ann_file}: data_list is empty')
        for key, value in infos.get('metainfo', {}).items():
            self._metainfo.setdefault(key, value)
        needs_depth = any(isinstance(t, LoadDepthFromFile) for t in self.pipeline.transforms)
        return [self._parse_entry(entry, index, needs_depth)
                for index, entry in enumerate(infos['data_list'])]

    def _parse_entry(self, entry: dict, index: int, needs_depth: bool) -> dict:
        """Entry ``index`` of the info file -> one item: paths joined with the prefixes, ``depth_scale``
        added."""
        missing = [key for key in REQUIRED_KEYS if key not in entry]
        if missing:
            raise KeyError(f'{self.ann_file}: entry {index} lacks the key(s) {missing}')
        if needs_depth and entry['depth_path'] is None:
            raise ValueError(f'{self.ann_file}: entry {index} ({entry["img_path"]}) has depth_path None '
                             'but the pipeline has LoadDepthFromFile (create the infos with depth maps)')
        item = dict(entry, depth_scale=self._metainfo.get('depth_scale'))
        item['img_path'] = osp.join(self.data_prefix['img_path'], entry['img_path'])
        if entry['depth_path'] is not None:
            item['depth_path'] = osp.join(self.data_prefix['depth_path'], entry['depth_path'])
        return item

    def prepare_data(self, idx):
        """The pipeline's output for sample ``idx``; a failure names the sample and the broken file."""
        try:
            return super().prepare_data(idx)
        except Exception as error:
            info = self.get_data_info(idx)
            files = [info['img_path']] + ([info['depth_path']] if info.get('depth_path') else [])
            problems = [problem for problem in (broken_file(f, self.backend_args) for f in files) if problem]
            cause = ('; '.join(problems) + ' (restore it, or re-run tools/create_data.py)' if problems else
                     f'{type(error).__name__}: {error}')
            raise SampleLoadError(f'{self.ann_file}: sample {idx} ({info["img_path"]}) cannot be loaded: '
                                  f'{cause}') from error
