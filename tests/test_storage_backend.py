"""Every read of infos, images, depth maps and point clouds goes through ``mmengine.fileio``: with a
storage backend registered here (files served from memory, selected by ``backend_args``), create_data,
LoadDepthFromFile and the pre-training dataset work on data that is not on the local disk."""
import os
import os.path as osp
import shutil

import numpy as np
import pytest
from mmcv.transforms import Compose
from mmengine.fileio import BaseStorageBackend, register_backend
from mmengine.registry import init_default_scope
from mmpretrain.registry import DATASETS

import s3pt_mm.datasets  # noqa: F401  (registers the dataset and transforms)
from s3pt_mm.converters import create_pretrain_infos
from s3pt_mm.datasets import LoadDepthFromFile

BACKEND_ARGS = dict(backend='memtest')


class MemoryBackend(BaseStorageBackend):
    """Serves the files of :attr:`files` (path -> bytes) and records every path read in :attr:`reads`."""
    files = {}
    reads = []

    def get(self, filepath):
        filepath = str(filepath)
        self.reads.append(filepath)
        if filepath not in self.files:
            raise FileNotFoundError(filepath)
        return self.files[filepath]

    def get_text(self, filepath, encoding='utf-8'):
        return self.get(filepath).decode(encoding)

    def exists(self, filepath):
        return str(filepath) in self.files

    def isfile(self, filepath):
        return self.exists(filepath)

    def join_path(self, filepath, *filepaths):
        return osp.join(filepath, *filepaths)


register_backend('memtest', MemoryBackend, force=True)


@pytest.fixture
def memory():
    MemoryBackend.files.clear()
    MemoryBackend.reads.clear()
    yield MemoryBackend
    MemoryBackend.files.clear()
    MemoryBackend.reads.clear()


def _move_to_memory(root, relative_dir, memory):
    """Serve every file under ``root/relative_dir`` from memory (same path) and delete it from the disk."""
    for folder, _, names in os.walk(osp.join(root, relative_dir)):
        for name in names:
            path = osp.join(folder, name)
            with open(path, 'rb') as f:
                memory.files[path] = f.read()
    shutil.rmtree(osp.join(root, relative_dir))


def test_create_data_dataset_and_depth_read_through_the_backend(synthetic_data_root, tmp_path, memory):
    # The devkit's tables and maps stay local; the sensor files (samples/) exist only in the backend.
    root = str(tmp_path / 'nuscenes')
    shutil.copytree(synthetic_data_root / 'nuscenes', root)
    _move_to_memory(root, 'samples', memory)
    with pytest.raises(Exception, match='missing image'):  # without backend_args: the local disk
        create_pretrain_infos(root, 'v1.0-mini', out_dir=str(tmp_path / 'local'), workers=0, progress=False)

    out = str(tmp_path / 'out')
    report = create_pretrain_infos(root, 'v1.0-mini', out_dir=out, workers=0, progress=False,
                                   backend_args=BACKEND_ARGS)
    assert report['done'] == report['images'] > 0 and report['failed'] == 0
    assert any(p.endswith('.pcd.bin') for p in memory.reads) and any(p.endswith('.jpg') for p in memory.reads)

    # The infos and depth maps join the images in the backend: the dataset reads all three through it.
    for name in ('s3pt_infos_pretrain_train.pkl', 'depth'):
        if name == 'depth':
            _move_to_memory(out, 'depth', memory)
        else:
            with open(osp.join(out, name), 'rb') as f:
                memory.files[osp.join(root, name)] = f.read()
    memory.reads.clear()
    init_default_scope('mmpretrain')
    dataset = DATASETS.build(dict(
        type='NuScenesPretrainDataset', data_root=root, ann_file='s3pt_infos_pretrain_train.pkl',
        data_prefix=dict(depth_path=out), backend_args=BACKEND_ARGS,
        pipeline=[dict(type='LoadImageFromFile', backend_args=BACKEND_ARGS),
                  dict(type='LoadDepthFromFile', backend_args=BACKEND_ARGS)]))
    item = dataset[0]
    assert item['img'].shape[:2] == item['depth'].shape and (item['depth'] > 0).any()
    assert memory.reads == [osp.join(root, 's3pt_infos_pretrain_train.pkl'), item['img_path'],
                            item['depth_path']]
    # the pre-training configs' loaders read through it too (the image once, its header and pixels)
    memory.reads.clear()
    dataset.pipeline = Compose([dict(type='LoadImageForCrops', backend_args=BACKEND_ARGS),
                                dict(type='LoadDepthFromFile', upsample=False, backend_args=BACKEND_ARGS)])
    item = dataset[0]
    assert item['img'].shape[:2] == item['depth'].shape and (item['depth'].to_array() > 0).any()
    assert memory.reads == [item['img_path'], item['depth_path']]


def test_depth_loading_reads_through_the_backend(memory):
    import cv2
    depth = (np.arange(12, dtype=np.uint16).reshape(3, 4) + 1) * 256
    memory.files['/nowhere/d.png'] = cv2.imencode('.png', depth)[1].tobytes()
    results = dict(depth_path='/nowhere/d.png', img_shape=(6, 8), depth_scale=256.0)
    out = LoadDepthFromFile(backend_args=BACKEND_ARGS)(results)
    np.testing.assert_array_equal(out['depth'][::2, ::2], depth / 256.0)
    assert memory.reads == ['/nowhere/d.png']
    with pytest.raises(FileNotFoundError, match='depth map not found'):
        LoadDepthFromFile(backend_args=BACKEND_ARGS)(dict(results, depth_path='/nowhere/missing.png'))
