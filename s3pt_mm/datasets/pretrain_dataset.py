"""nuScenes camera images (with dense LiDAR depth) for S3PT pre-training."""
import os.path as osp

import mmengine
from mmengine.dataset import BaseDataset
from mmpretrain.registry import DATASETS

REQUIRED_KEYS = ('img_path', 'depth_path', 'cam', 'sample_data_token', 'height', 'width')


@DATASETS.register_module()
class NuScenesPretrainDataset(BaseDataset):
    """Every camera image of the info file written by ``tools/create_data.py``.

    Info file (pickle or JSON, by extension)::

        {'metainfo': {'dataset': 'nuscenes', 'version': 'v1.0-trainval', 'depth_scale': 256.0, ...},
         'data_list': [{'img_path': 'samples/CAM_FRONT/<name>.jpg',
                        'depth_path': 'depth/CAM_FRONT/<name>.png' or None,
                        'cam': 'CAM_FRONT', 'sample_token': ..., 'sample_data_token': ...,
                        'timestamp': ..., 'height': 900, 'width': 1600}, ...]}

    Paths are relative to ``data_root`` (plus ``data_prefix['img_path']`` / ``data_prefix['depth_path']``).
    Each item also carries ``depth_scale`` (PNG units per metre) for :class:`LoadDepthFromFile`.

    Args:
        ann_file (str): the info file. data_root (str): nuScenes root.
        data_prefix (dict): prefixes of ``img_path`` and ``depth_path``.
        pipeline (list[dict]): transforms. Other arguments as mmengine's BaseDataset.
    """
    METAINFO = dict(dataset='nuscenes')

    def __init__(self, ann_file, data_root='', data_prefix=None, pipeline=(), **kwargs):
        data_prefix = dict(img_path='', depth_path='', **(data_prefix or {}))
        super().__init__(ann_file=ann_file, data_root=data_root, data_prefix=data_prefix,
                         pipeline=list(pipeline), **kwargs)

    def load_data_list(self):
        if not osp.isfile(self.ann_file):
            raise FileNotFoundError(f'pre-training info file not found: {self.ann_file} (create it with '
                                    'tools/create_data.py nuscenes --root-path <nuscenes root>)')
        infos = mmengine.load(self.ann_file)
        if not isinstance(infos, dict) or 'data_list' not in infos:
            raise ValueError(f"{self.ann_file}: expected a dict with 'metainfo' and 'data_list'")
        for key, value in infos.get('metainfo', {}).items():
            self._metainfo.setdefault(key, value)
        depth_scale = self._metainfo.get('depth_scale')
        data_list = []
        for index, entry in enumerate(infos['data_list']):
            missing = [k for k in REQUIRED_KEYS if k not in entry]
            if missing:
                raise KeyError(f'{self.ann_file}: entry {index} lacks {missing}')
            item = dict(entry)
            item['img_path'] = osp.join(self.data_prefix['img_path'], entry['img_path'])
            if entry['depth_path'] is not None:
                item['depth_path'] = osp.join(self.data_prefix['depth_path'], entry['depth_path'])
            item['depth_scale'] = depth_scale
            data_list.append(item)
        return data_list
