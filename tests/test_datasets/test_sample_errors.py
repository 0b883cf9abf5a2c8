"""A missing or corrupt image or depth map met by the pre-training data loader (after create_data ran) stops
with an error naming the info file, the sample and the file at fault, also from a data loader worker."""
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import default_collate
from mmengine.registry import init_default_scope
from mmpretrain.registry import DATASETS

from s3pt_mm.datasets import SampleLoadError

from tests.helpers import ROOT


@pytest.fixture()
def dataset(pretrain_data_root, tmp_path):
    """The demo pre-training dataset on a copy of the converted synthetic data (which the test breaks)."""
    root = tmp_path / 'nuscenes'
    shutil.copytree(pretrain_data_root, root)
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(ROOT / 'configs/demo/s3pt_vit-demo_synthetic.py').train_dataloader.dataset
    cfg.data_root = f'{root}/'
    return DATASETS.build(cfg)


def _break_image_empty(path):
    path.write_bytes(b'')


def _break_missing(path):
    path.unlink()


def _break_garbage(path):
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 300, dtype=np.uint8).tobytes())


def expected_message(dataset, index, problem, path):
    return (f'{dataset.ann_file}: sample {index} ({dataset.get_data_info(index)["img_path"]}) cannot be loaded: '
            f'{problem} {path} (restore it, or re-run tools/create_data.py)')


@pytest.mark.parametrize('key,damage,problem', [
    ('img_path', _break_image_empty, 'empty file (0 bytes)'),
    ('img_path', _break_missing, 'missing file'),
    ('img_path', _break_garbage, 'corrupt file (not a readable image)'),
    ('depth_path', _break_garbage, 'corrupt file (not a readable image)'),
    ('depth_path', _break_missing, 'missing file'),
])
def test_broken_file_is_named(dataset, key, damage, problem):
    index = 4
    path = dataset.get_data_info(index)[key]
    damage(Path(path))
    assert dataset[index - 1]['inputs'][0].shape[-2:] == (96, 96)  # the other samples still load
    with pytest.raises(SampleLoadError) as error:
        dataset[index]
    assert str(error.value) == expected_message(dataset, index, problem, path)


def test_error_from_a_worker_names_the_file(dataset):
    path = dataset.get_data_info(2)['img_path']
    _break_image_empty(Path(path))
    loader = torch.utils.data.DataLoader(dataset, batch_size=3, num_workers=1, collate_fn=default_collate,
                                         multiprocessing_context='spawn')
    with pytest.raises(SampleLoadError) as error:
        list(loader)
    # the message, not the worker's traceback
    assert str(error.value) == expected_message(dataset, 2, 'empty file (0 bytes)', path) + (
        ' [in DataLoader worker process 0]')
