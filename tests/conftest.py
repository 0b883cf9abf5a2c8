"""Shared pytest fixtures."""
from pathlib import Path

import pytest

#: The small synthetic dataset shared by the test session (2 scenes x 3 samples x 6 cameras, 160x90).
SYNTHETIC_TEST_CONFIG = dict(seed=0, num_scenes=2, samples_per_scene=3, image_size=(90, 160),
                             lidar_azimuth_step=0.5)


@pytest.fixture(scope='session')
def synthetic_data_root(tmp_path_factory) -> Path:
    """Root of a synthetic dataset generated once per session (a few seconds).

    ``root / 'nuscenes'`` is a nuScenes ``v1.0-mini`` dataroot (scene-0061 in mini_train, scene-0103 in
    mini_val), ``root / 'nuimages'`` a nuImages dataroot with versions ``v1.0-mini``, ``v1.0-train`` and
    ``v1.0-val``; ``s3pt_mm.datasets.synthetic.load_config(root)`` returns the generation config.
    """
    from s3pt_mm.datasets.synthetic import generate_synthetic_dataset

    root = tmp_path_factory.mktemp('synthetic') / 'data'
    generate_synthetic_dataset(root, **SYNTHETIC_TEST_CONFIG)
    return root


ROOT = Path(__file__).resolve().parents[1]


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


def run_tool(*args, check=True):
    """Run ``python tools/<args>`` from the repository root, as a user would; returns the result."""
    import os
    import subprocess
    import sys
    result = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)))
    if check and result.returncode != 0:
        raise AssertionError(f'{args} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}')
    return result


def _distributed_worker(fn, rank, world_size, port, results):
    import os

    import torch.distributed as dist
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=world_size)
    try:
        results[rank] = fn(rank)
    finally:
        dist.destroy_process_group()


def run_distributed(fn, world_size=2, timeout=300):
    """Run ``fn(rank)`` in ``world_size`` CPU processes joined by a gloo process group, as DDP would;
    returns ``[fn(0), fn(1), ...]``. The processes are spawned, not forked (a fork of a process whose
    OpenMP threads ran can hang), so ``fn`` and its results must be picklable (a module-level function,
    or a functools.partial of one)."""
    import socket

    import torch.multiprocessing as mp
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    ctx = mp.get_context('spawn')
    with ctx.Manager() as manager:
        results = manager.dict()
        procs = [ctx.Process(target=_distributed_worker, args=(fn, rank, world_size, port, results))
                 for rank in range(world_size)]
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join(timeout=timeout)
        for proc in procs:
            if proc.is_alive():
                proc.kill()
        assert all(proc.exitcode == 0 for proc in procs), f'exit codes {[proc.exitcode for proc in procs]}'
        return [results[rank] for rank in range(world_size)]


@pytest.fixture(scope='session')
def pretrain_data_root(synthetic_data_root, tmp_path_factory) -> Path:
    """A copy of the synthetic nuScenes root after ``tools/create_data.py nuscenes`` (infos + depth)."""
    import shutil
    root = tmp_path_factory.mktemp('pretrain') / 'nuscenes'
    shutil.copytree(synthetic_data_root / 'nuscenes', root)
    run_tool('tools/create_data.py', 'nuscenes', '--root-path', str(root), '--version', 'v1.0-mini',
             '--workers', '0')
    return root


def demo_train_options(data_root, epochs):
    return [f'train_dataloader.dataset.data_root={data_root}/', 'train_dataloader.num_workers=0',
            'train_dataloader.persistent_workers=False', 'train_dataloader.batch_size=6',
            f'train_cfg.max_epochs={epochs}', 'default_hooks.checkpoint.interval=1',
            'default_hooks.logger.interval=1']


@pytest.fixture(scope='session')
def s3pt_checkpoint(pretrain_data_root, tmp_path_factory) -> Path:
    """A real pre-training checkpoint: the demo S3PT config trained for 1 epoch on the synthetic data."""
    work_dir = tmp_path_factory.mktemp('s3pt_pretrain')
    run_tool('tools/train.py', 'configs/demo/s3pt_vit-demo_synthetic.py', '--work-dir', str(work_dir),
             '--cfg-options', *demo_train_options(pretrain_data_root, 1))
    return work_dir / 'epoch_1.pth'
