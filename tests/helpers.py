"""Helpers shared by the tests (imported as ``tests.helpers``; the fixtures are in ``conftest.py``)."""
from pathlib import Path

#: The repository root.
ROOT = Path(__file__).resolve().parents[1]

#: The small synthetic dataset shared by the test session (2 scenes x 3 samples x 6 cameras, 160x90).
SYNTHETIC_TEST_CONFIG = dict(seed=0, num_scenes=2, samples_per_scene=3, image_size=(90, 160),
                             lidar_azimuth_step=0.5)


def psnr(a, b) -> float:
    """PSNR in dB of two images of 8-bit values (arrays or tensors of any dtype)."""
    import numpy as np
    mse = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)
    return float(10 * np.log10(255 ** 2 / max(mse, 1e-12)))


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


def benchmark_module(name):
    """A module of tools/benchmarks/ (not a package: tools/benchmark.py puts tools/ and the folder on sys.path
    too, as here)."""
    import importlib.util
    import sys
    for folder in (ROOT / 'tools', ROOT / 'tools' / 'benchmarks'):
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
    spec = importlib.util.spec_from_file_location(f'benchmarks_{name}', ROOT / 'tools' / 'benchmarks' / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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


def demo_train_options(data_root, epochs):
    return [f'train_dataloader.dataset.data_root={data_root}/', 'train_dataloader.num_workers=0',
            'train_dataloader.persistent_workers=False', 'train_dataloader.batch_size=6',
            f'train_cfg.max_epochs={epochs}', 'default_hooks.checkpoint.interval=1',
            'default_hooks.logger.interval=1']


#: A tiny pre-training setup: images of IMG pixels, patches of PATCH, K prototypes.
IMG, PATCH, K = 32, 8, 64
TINY_VIT = dict(type='VisionTransformer', arch=dict(embed_dims=32, num_layers=2, num_heads=2,
                                                    feedforward_channels=64),
                img_size=IMG, patch_size=PATCH, drop_path_rate=0.1, out_type='raw')


def tiny_model(method):
    """The tiny ViT pre-trained with ``method`` (``'dino'``, ``'cribo'`` or ``'s3pt'``), built from mmpretrain's
    registry (the caller sets its default scope)."""
    from mmpretrain.registry import MODELS

    import s3pt_mm.models  # noqa: F401  (registers S3PT and its parts)
    head = dict(type='DINOProjectionHead', in_channels=32, num_prototypes=K, hidden_channels=64,
                bottleneck_channels=16, num_layers=3, norm_last_layer=False)
    dino_loss = dict(type='DINOLoss', out_channels=K, centering='logit', vmf=False)
    vmf_loss = dict(type='DINOLoss', out_channels=K, centering='probability', vmf=True,
                    bottleneck_channels=16)
    cfg = dict(type='S3PT', backbone=TINY_VIT, head=head, global_loss=dino_loss,
               data_preprocessor=dict(type='SelfSupDataPreprocessor', mean=[0.0] * 3,
                                      std=[1.0] * 3))
    if method == 'dino':
        head['num_object_prototypes'] = 0
    elif method == 'cribo':
        cfg.update(object_loss=dino_loss, queue_size=4, cross_image_start_epoch=0,
                   clustering=dict(type='SinkhornSpatialClustering', num_clusters=4, num_iters=5))
    elif method == 's3pt':
        cfg.update(global_loss=vmf_loss, object_loss=vmf_loss, queue_size=4, cross_image_start_epoch=0,
                   clustering=dict(type='SinkhornSpatialClustering', num_clusters=8, num_iters=1,
                                   depth_alpha=4.0))
    model = MODELS.build(cfg)
    model.init_weights()
    model.set_epoch(0)  # what ModelEpochHook does in a Runner
    return model


def fake_pretrain_batch(batch=2, seed=0, img=IMG, patch=PATCH):
    """A batch for :func:`tiny_model` (or a model with ``img`` x ``img`` views and ``patch`` x ``patch``
    patches): two random views per image, with the token geometry that PackMultiViewInputs provides
    (positions, depths, validity)."""
    import torch
    from mmpretrain.structures import DataSample
    g = torch.Generator().manual_seed(seed)
    side = img // patch
    n = side ** 2
    views = [torch.rand(batch, 3, img, img, generator=g) * 255 for _ in range(2)]
    samples = []
    for _ in range(batch):
        s = DataSample()
        grid = torch.stack(torch.meshgrid(torch.arange(float(side)), torch.arange(float(side)), indexing='xy'), -1)
        pos = (grid.reshape(n, 2) * patch + patch / 2)
        s.set_field(torch.stack([pos, pos * 0.8 + 3]), 'token_positions')
        s.set_field(torch.rand(2, n, generator=g) * 40 + 2, 'token_depths')
        valid = torch.ones(2, n, dtype=torch.bool)
        valid[:, :3] = False
        s.set_field(valid, 'token_depth_valid')
        samples.append(s)
    return dict(inputs=views, data_samples=samples)


def cuda_like_half_gemms():
    """A dispatch mode under which every fp16 matrix product (``mm``, ``addmm``, ``bmm``, ``baddbmm``: what
    linear layers, ``matmul``, ``einsum`` and ``vecdot`` reach under autocast) is computed as CUDA's fp16
    GEMMs compute it: fp16 inputs, products accumulated in float32, the result rounded to fp16. CPU kernels
    for fp16 products are slow on machines without native fp16 (a (392, 256) x (256, 65536) product takes
    ~50 s here, 0.3 s in float32), so the fp16 tests run them this way; everything else (the casts of
    autocast, the elementwise ops, their fp16 overflow) is untouched."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode
    aten = torch.ops.aten
    gemms = {aten.mm.default, aten.addmm.default, aten.bmm.default, aten.baddbmm.default}

    class HalfGemms(TorchDispatchMode):

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            if func in gemms and any(isinstance(a, torch.Tensor) and a.dtype == torch.float16 for a in args):
                args = [a.float() if isinstance(a, torch.Tensor) and a.dtype == torch.float16 else a for a in args]
                return func(*args, **kwargs).half()
            return func(*args, **kwargs)

    return HalfGemms()


def toy_model():
    """A one-layer regression model (mmengine BaseModel, loss ``(linear(inputs) - targets)**2``)."""
    import torch.nn as nn
    from mmengine.model import BaseModel

    class ToyModel(BaseModel):

        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(2, 1)

        def forward(self, inputs, targets, mode='tensor'):
            out = self.linear(inputs).squeeze(-1)
            if mode == 'loss':
                return dict(loss=((out - targets) ** 2).mean())
            return out

    return ToyModel()


def make_toy_runner(work_dir, max_iters, **kwargs):
    """An mmengine Runner training :func:`toy_model` on 8 fixed samples (batch 2, a checkpoint every 2
    iterations): its checkpoints hold everything a Runner saves (message hub, optimizer, ...)."""
    import torch
    from mmengine.runner import Runner

    class ToyDataset(torch.utils.data.Dataset):
        metainfo = dict()

        def __len__(self):
            return 8

        def __getitem__(self, idx):
            g = torch.Generator().manual_seed(idx)
            return dict(inputs=torch.randn(2, generator=g), targets=torch.tensor(float(idx)))

    return Runner(
        model=toy_model(),
        work_dir=str(work_dir),
        train_dataloader=dict(dataset=ToyDataset(), sampler=dict(type='DefaultSampler', shuffle=False),
                              batch_size=2, num_workers=0, collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=0.1)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=2, by_epoch=False),
                           logger=dict(type='LoggerHook', interval=1)),
        default_scope='mmengine',
        experiment_name=f'toy_{work_dir.name}_{max_iters}_{len(kwargs)}',
        **kwargs)
