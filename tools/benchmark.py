"""Speed and memory figures of s3pt_mm, printed as a table and optionally written as JSON.

    python tools/benchmark.py                        # every section
    python tools/benchmark.py --only ip_basic clustering --json bench.json
    python tools/benchmark.py --only pretrain --device cuda --batch-size 64

Sections (each a function returning {figure: value}):
  ip_basic    ms per 900x1600 frame of fill_in_fast / fill_in_multiscale (one OpenCV thread); with
              --ip-basic-dir (or $IP_BASIC_DIR) the published implementation (github kujason/ip_basic,
              the folder holding depth_map_utils.py) timed on the same frame, alternating, with the
              ratio and the max abs difference of the outputs
  clustering  ms per batch of spatial clustering (B=8 images, 2 x 196 ViT-S/16 tokens of width 384)
              with CrIBo's (32 clusters, 5 iterations) and S3PT's (128 clusters, 1 iteration, depth)
              settings
  pretrain    S3PT ViT-S/16 pre-training step (configs/pretrain/s3pt_vit-s16_8xb32-500e_nuscenes.py,
              224x224 views, 65536 prototypes): images/s and peak memory at --batch-size
  pipeline    data-pipeline ms/image and images/s per worker of the S3PT pre-training transforms on a
              full-size 900x1600 frame with its depth map
  create_data images/s of tools/create_data.py's pre-training conversion (LiDAR projection into each
              camera, IP-Basic, 16-bit PNGs) with --workers processes on --nuscenes-root (a nuScenes
              v1.0-mini root, e.g. from tools/make_synthetic_data.py --image-size 900 1600
              --lidar-azimuth-step 0.33); skipped without it
Adding a section = writing one function and adding it to SECTIONS.
"""
import argparse
import os
import os.path as osp
import platform
import resource
import sys
import time

import numpy as np
import torch

from s3pt_mm.utils.fileio import write_json_atomic

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def _timed(fn, repeats, warmup=1):
    """Median and mean wall time of ``fn()`` in milliseconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return float(np.median(times)), float(np.mean(times))


def lidar_like_sparse_depth(height=900, width=1600, seed=0):
    """A LiDAR-like sparse depth map: 32 scan rows over the lower 2/3, ~5 % of those pixels hit."""
    rng = np.random.default_rng(seed)
    depth = np.zeros((height, width), np.float32)
    rows = np.linspace(height // 3, height - 1, 32).astype(int)
    for row in rows:
        cols = np.flatnonzero(rng.random(width) < 0.6)
        depth[row, cols] = np.clip(rng.gamma(2.0, 8.0, len(cols)), 1.0, 90.0)
    return depth


def _published_ip_basic(directory):
    """``depth_map_utils`` of the published IP-Basic, imported from ``directory`` (not part of s3pt_mm)."""
    import importlib.util
    import warnings
    path = osp.join(directory, 'depth_map_utils.py')
    if not osp.isfile(path):
        raise SystemExit(f'--ip-basic-dir: no depth_map_utils.py in {directory}')
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        if not isinstance(getattr(np, 'bool', None), type):  # removed alias that it uses
            np.bool = bool
    spec = importlib.util.spec_from_file_location('published_depth_map_utils', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def bench_ip_basic(args):
    import cv2

    from s3pt_mm.depth import fill_in_fast, fill_in_multiscale
    published = _published_ip_basic(args.ip_basic_dir) if args.ip_basic_dir else None
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    out = {}
    try:
        sparse = lidar_like_sparse_depth()
        for name, ours, repeats in (('fill_in_fast', fill_in_fast, args.repeats),
                                    ('fill_in_multiscale', fill_in_multiscale, max(args.repeats // 2, 1))):
            if published is None:
                out[f'{name} ms/frame (900x1600, 1 thread)'] = _timed(lambda: ours(sparse), repeats)[0]
                continue
            theirs = getattr(published, name)
            times = np.zeros((repeats, 2))
            for i in range(repeats + 1):  # alternating, so that the machine's load hits both alike
                start = time.perf_counter()
                mine = ours(sparse)
                middle = time.perf_counter()
                reference = theirs(sparse.copy())  # it works in place
                if i:  # the first round warms up
                    times[i - 1] = middle - start, time.perf_counter() - middle
            reference = reference[0] if isinstance(reference, tuple) else reference
            ms = np.median(times, axis=0) * 1000
            out[f'{name} ms/frame (900x1600, 1 thread)'] = float(ms[0])
            out[f'{name} published ms/frame'] = float(ms[1])
            out[f'{name} time ratio ours/published (median of rounds)'] = float(np.median(times[:, 0] / times[:, 1]))
            out[f'{name} max abs difference to published'] = float(np.abs(mine - reference).max())
    finally:
        cv2.setNumThreads(threads)
    return out


def bench_clustering(args):
    from s3pt_mm.models.utils.spatial_clustering import spatial_clustering
    device = torch.device(args.device)
    g = torch.Generator(device='cpu').manual_seed(0)
    batch, tokens, width = 8, 2 * 196, 384
    feats = torch.randn(batch, tokens, width, generator=g).to(device)
    grid = torch.stack(torch.meshgrid(torch.arange(14.0), torch.arange(14.0), indexing='xy'), -1)
    pos = torch.cat([grid.reshape(-1, 2) * 16 + 8, grid.reshape(-1, 2) * 12 + 40]).expand(batch, -1, -1)
    depths = (torch.rand(batch, tokens, generator=g) * 60 + 2).to(device)
    pos = pos.to(device)
    out = {}
    for name, kwargs in (('CrIBo (32 clusters, 5 iters)', dict(num_clusters=32, num_iters=5)),
                         ('S3PT (128 clusters, 1 iter, depth 4)',
                          dict(num_clusters=128, num_iters=1, depth_alpha=4.0))):

        def run():
            spatial_clustering(feats, pos, depths, **kwargs)
            if device.type == 'cuda':
                torch.cuda.synchronize()

        out[f'spatial clustering ms/batch (B=8, N=392) {name}'] = _timed(run, args.repeats)[0]
    return out


def _peak_memory_mb(device):
    if device.type == 'cuda':
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def bench_pretrain(args):
    from mmengine.config import Config
    from mmengine.optim import build_optim_wrapper
    from mmpretrain.registry import MODELS
    from mmpretrain.structures import DataSample

    from mmengine.registry import init_default_scope

    import s3pt_mm.engine  # noqa: F401
    import s3pt_mm.models  # noqa: F401
    init_default_scope('mmpretrain')  # the DINO optimizer wrappers live in mmpretrain's registry
    device = torch.device(args.device)
    cfg = Config.fromfile(osp.join(ROOT, 'configs/pretrain/s3pt_vit-s16_8xb32-500e_nuscenes.py'))
    model = MODELS.build(cfg.model).to(device)
    model.init_weights()
    model.set_epoch(1)  # the cross-image term on, as from the second epoch of training
    model.train()
    wrapper = dict(type='DINOAmpOptimWrapper', dtype='float16') if device.type == 'cuda' else \
        dict(type='DINOOptimWrapper')
    optim = build_optim_wrapper(model, dict(optimizer=dict(type='AdamW', lr=1e-4), **wrapper))
    batch, n = args.batch_size, 196
    grid = torch.stack(torch.meshgrid(torch.arange(14.0), torch.arange(14.0), indexing='xy'), -1)
    grid = grid.reshape(n, 2) * 16 + 8
    samples = []
    for _ in range(batch):
        sample = DataSample()
        sample.set_field(torch.stack([grid, grid * 0.7 + 40]), 'token_positions')
        sample.set_field(torch.rand(2, n) * 50 + 2, 'token_depths')
        sample.set_field(torch.ones(2, n, dtype=torch.bool), 'token_depth_valid')
        samples.append(sample)
    data = dict(inputs=[torch.randint(0, 255, (batch, 3, 224, 224), dtype=torch.uint8) for _ in range(2)],
                data_samples=samples)

    def step():
        model.train_step(data, optim)
        model.update_teacher(0.996)
        if device.type == 'cuda':
            torch.cuda.synchronize()

    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)
    median_ms, _ = _timed(step, max(args.repeats // 2, 2))
    return {f'S3PT ViT-S/16 train step s (batch {batch}, {device.type})': median_ms / 1000,
            f'S3PT ViT-S/16 images/s (batch {batch}, {device.type})': batch / (median_ms / 1000),
            f'peak memory MiB ({"GPU allocated" if device.type == "cuda" else "process RSS"})':
            _peak_memory_mb(device)}


def bench_pipeline(args):
    """The S3PT pre-training transforms (configs/pretrain/s3pt_vit-s16_8xb32-500e_nuscenes.py: JPEG and
    depth PNG decoding, two 224x224 depth-aware crops with flips and photometric augmentations, token
    geometry, packing) on one full-size nuScenes-like frame (900x1600 JPEG, 450x800 16-bit depth PNG as
    tools/create_data.py writes them), in this one process: images/s of one data-loader worker."""
    import tempfile

    import cv2
    from mmcv.transforms import Compose
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import s3pt_mm.datasets  # noqa: F401
    from s3pt_mm.converters.nuscenes_pretrain import DEPTH_SCALE
    from s3pt_mm.depth import fill_in_fast
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(osp.join(ROOT, 'configs/pretrain/s3pt_vit-s16_8xb32-500e_nuscenes.py'))
    pipeline = Compose(cfg.train_dataloader.dataset.pipeline)
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 200, 1600, dtype=np.float32)[None, :, None] + np.linspace(0, 50, 900)[:, None, None]
    image = np.clip(ramp + rng.normal(0, 20, (900, 1600, 3)), 0, 255).astype(np.uint8)
    depth = fill_in_fast(lidar_like_sparse_depth(450, 800))
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)  # as in a data-loader worker (mmengine sets 1 thread per worker)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            cv2.imwrite(osp.join(tmp, 'cam.jpg'), image, [cv2.IMWRITE_JPEG_QUALITY, 95])
            cv2.imwrite(osp.join(tmp, 'depth.png'), np.round(depth * DEPTH_SCALE).astype(np.uint16))
            info = dict(img_path=osp.join(tmp, 'cam.jpg'), depth_path=osp.join(tmp, 'depth.png'),
                        depth_scale=DEPTH_SCALE)
            median_ms, _ = _timed(lambda: pipeline(dict(info)), args.repeats * 2)
    finally:
        cv2.setNumThreads(threads)
    return {'S3PT pre-training pipeline ms/image (900x1600, 2 views, 1 thread)': median_ms,
            'S3PT pre-training pipeline images/s per worker': 1000 / median_ms}


def bench_create_data(args):
    """images/s of the whole pre-training conversion (tools/create_data.py nuscenes, default options:
    depth at 1/2 resolution, IP-Basic fast) with ``--workers`` processes, run ``--create-data-runs`` times
    into fresh output folders; the NuScenes table loading is counted too."""
    import shutil
    import tempfile

    from s3pt_mm.converters import create_pretrain_infos
    if not args.nuscenes_root:
        print('[benchmark] create_data: skipped (no --nuscenes-root)', file=sys.stderr)
        return {}
    seconds, images = [], 0
    for _ in range(args.create_data_runs):
        out_dir = tempfile.mkdtemp(prefix='s3pt_bench_create_data_')
        try:
            start = time.perf_counter()
            report = create_pretrain_infos(args.nuscenes_root, 'v1.0-mini', out_dir, workers=args.workers,
                                           progress=False)
            seconds.append(time.perf_counter() - start)
            images = report['done']
        finally:
            shutil.rmtree(out_dir, ignore_errors=True)
    best = float(np.median(seconds))
    return {f'create_data images/s ({images} images, {args.workers} workers)': images / best,
            'create_data s per run': best}


SECTIONS = dict(ip_basic=bench_ip_basic, clustering=bench_clustering, pretrain=bench_pretrain,
                pipeline=bench_pipeline, create_data=bench_create_data)


def main(argv=None):
    parser = argparse.ArgumentParser(description='s3pt_mm benchmarks')
    parser.add_argument('--only', nargs='+', choices=sorted(SECTIONS), help='sections to run')
    parser.add_argument('--json', help='also write the figures to this JSON file')
    parser.add_argument('--repeats', type=int, default=10)
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--batch-size', type=int, default=8, help='pre-training batch (images)')
    parser.add_argument('--ip-basic-dir', default=os.environ.get('IP_BASIC_DIR'),
                        help='folder of the published depth_map_utils.py, to time it side by side '
                        '(default: $IP_BASIC_DIR)')
    parser.add_argument('--nuscenes-root', help='nuScenes v1.0-mini root for the create_data section')
    parser.add_argument('--workers', type=int, default=2, help='create_data worker processes')
    parser.add_argument('--create-data-runs', type=int, default=3, help='create_data conversions timed')
    args = parser.parse_args(argv)
    results = dict(machine=dict(python=platform.python_version(), torch=torch.__version__,
                                cpu_threads=torch.get_num_threads(), device=args.device,
                                gpu=torch.cuda.get_device_name() if args.device.startswith('cuda') else None))
    for name in args.only or SECTIONS:
        print(f'[benchmark] {name} ...', file=sys.stderr, flush=True)
        results[name] = SECTIONS[name](args)
    width = max(len(k) for section in results.values() for k in section)
    for name, figures in results.items():
        print(f'\n## {name}')
        for key, value in figures.items():
            shown = f'{value:.2f}' if isinstance(value, float) else value
            print(f'{key:<{width}}  {shown}')
    if args.json:
        write_json_atomic(args.json, results)
    return results


if __name__ == '__main__':
    main()
