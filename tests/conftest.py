"""Shared pytest fixtures (plain helper functions are in ``tests/helpers.py``)."""
from pathlib import Path

import pytest

from tests.helpers import SYNTHETIC_TEST_CONFIG, demo_train_options, run_tool


@pytest.fixture(scope='session')
def synthetic_data_root(tmp_path_factory) -> Path:
    """Root of a synthetic dataset generated once per session (a few seconds).

    ``root / 'nuscenes'`` is a nuScenes ``v1.0-mini`` dataroot (scene-0061 in mini_train, scene-0103 in
    mini_val), ``root / 'nuimages'`` a nuImages dataroot with versions ``v1.0-mini``, ``v1.0-train`` and
    ``v1.0-val``; ``s3pt_mm.synthetic.load_config(root)`` returns the generation config.
    """
    from s3pt_mm.synthetic import generate_synthetic_dataset

    root = tmp_path_factory.mktemp('synthetic') / 'data'
    generate_synthetic_dataset(root, **SYNTHETIC_TEST_CONFIG)
    return root


def _without_default_scope():
    """Run the enclosed fixture scope without a default scope, then restore the previous state.

    mmengine's default scope is process-global: a Runner or ``init_default_scope`` of an earlier test or
    module would make later registry builds look in its registry (``S3PT is not in the mmengine::model
    registry``), so test outcomes would depend on their order. Tests and fixtures that need a scope set
    it themselves (autouse fixtures of conftest run before theirs)."""
    from mmengine.registry import DefaultScope
    saved = DefaultScope._instance_dict.copy()
    DefaultScope._instance_dict.clear()
    yield
    DefaultScope._instance_dict.clear()
    DefaultScope._instance_dict.update(saved)


_clean_scope_per_module = pytest.fixture(scope='module', autouse=True)(_without_default_scope)
_clean_scope_per_test = pytest.fixture(autouse=True)(_without_default_scope)


@pytest.fixture(scope='session')
def pretrain_data_root(synthetic_data_root, tmp_path_factory) -> Path:
    """A copy of the synthetic nuScenes root after ``tools/create_data.py nuscenes`` (infos + depth)."""
    import shutil
    root = tmp_path_factory.mktemp('pretrain') / 'nuscenes'
    shutil.copytree(synthetic_data_root / 'nuscenes', root)
    run_tool('tools/create_data.py', 'nuscenes', '--root-path', str(root), '--version', 'v1.0-mini',
             '--workers', '0')
    return root


@pytest.fixture(scope='session')
def s3pt_checkpoint(pretrain_data_root, tmp_path_factory) -> Path:
    """A real pre-training checkpoint: the demo S3PT config trained for 1 epoch on the synthetic data."""
    work_dir = tmp_path_factory.mktemp('s3pt_pretrain')
    run_tool('tools/train.py', 'configs/demo/s3pt_vit-demo_synthetic.py', '--work-dir', str(work_dir),
             '--cfg-options', *demo_train_options(pretrain_data_root, 1))
    return work_dir / 'epoch_1.pth'
