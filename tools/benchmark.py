"""Speed and memory figures of s3pt_mm, printed as a table and optionally written as JSON.

    python tools/benchmark.py                                   # every section that needs no reference
    python tools/benchmark.py --only step clustering --cribo-dir /tmp/cribo   # ratios to official CrIBo
    python tools/benchmark.py --only pretrain --device cuda     # ViT-S/16 and ViT-B/16, 32 images, AMP

Sections (each a function returning {figure: value}):
  ip_basic    ms per 900x1600 frame of fill_in_fast / fill_in_multiscale (one OpenCV thread) on a projected
              32-beam sweep (projected_sweep_depth: curved scan lines, as in real frames); with
              --ip-basic-dir (or $IP_BASIC_DIR) the published implementation (github kujason/ip_basic,
              the folder holding depth_map_utils.py) timed on the same frame, alternating, with the
              ratio and the max abs difference of the outputs
  clustering  ms per batch of spatial clustering (B=8 images, 2 x 196 ViT-S/16 tokens of width 384) with
              CrIBo's (32 clusters, 5 iterations) and S3PT's (128 clusters, 1 iteration, depth) settings,
              on grid and on random token positions; with --cribo-dir, CrIBo's own compute_assignments
              with the same settings in the same run, and the speed-up
  step        with --cribo-dir: one pre-training step of the official CrIBo code next to s3pt_mm's CrIBo
              and S3PT ViT-S/16 configurations (same inputs, full queues, float32), in alternating worker
              processes: medians, speed-ups and the per-part breakdown (tools/benchmarks/pretrain_step.py);
              without it, s3pt_mm's two configurations only. --step-configs picks s3pt_mm's configurations:
              the three workers hold 24 GiB together, more than a 24 GiB machine has, so measure one
              configuration per run there (--step-configs s3pt, then --step-configs cribo)
  pretrain    the pre-training step of --methods x --archs (configs/pretrain/, 224x224 views, 65536
              prototypes, full queue): images/s and peak memory at --batch-size (default 32 per GPU with
              fp16 mixed precision on CUDA, the paper's setting; 8 in float32 on CPU); a non-finite loss
              stops it with a non-zero exit naming the loss term and the step
  memory      peak memory per GPU of one pre-training step of each paper config (--memory-configs) at
              --memory-images (32) images: measured in float32 on this CPU with an allocation counter at
              --memory-batches (4 8) images, fitted linearly in the batch and extrapolated, split into
              parameters + gradients + AdamW state, the queue (exact), activations, the (N, 65536) object
              tensors (at num_clusters objects per image) and transients; with an fp16 AMP estimate
              (tools/benchmarks/memory.py)
  ddp         bytes communicated per S3PT ViT-S/16 step by 2 processes joined by gloo, with the DDP settings
              of the configs (no buffer broadcast, no unused-parameter search) and with DDP's defaults, by
              kind (gradient buckets, buffer broadcasts, s3pt_mm's own collectives) and on the loopback
              interface
  pipeline    CPU ms per image and images/s per worker core of the S3PT, CrIBo and DINO ViT-S/16 pre-training
              pipelines on a full-size 900x1600 frame with its depth map, in total and per transform: before
              (the generic mmcv/mmpretrain transforms they replaced), after, and after with the images of
              create_data.py --image-scale 0.5 (tools/benchmarks/pipeline.py), and the worker cores a GPU
              at --gpu-images-per-s needs; --pipeline-frame IMAGE [DEPTH] times your own frame. With the
              views rendered on the GPU (configs *_device-views.py): the workers' part, and the ms --device
              takes to decode and render a batch of --render-batch-size samples
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
import sys
import time

import numpy as np
import torch

from s3pt_mm.utils.fileio import write_json_atomic

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
# tools/benchmarks/: the official CrIBo code run from a checkout, and the side-by-side pre-training step
sys.path.insert(0, osp.join(ROOT, 'tools', 'benchmarks'))
from pretrain_step import peak_memory_mib, reset_peak_memory, synchronize  # noqa: E402


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


def projected_sweep_depth(height=900, width=1600, seed=0):
    """A sparse depth map as tools/create_data.py makes one: a 32-beam spinning LiDAR (the HDL-32E's
    elevations -30.67..+10.67 deg, 0.33 deg azimuth steps, 1 % range noise, 5 % dropped returns) in a street
    (ground 1.84 m below the sensor, facades 8 m to each side, a wall at 60 m), projected into a forward
    camera at the sensor (nuScenes' front-camera focal length, 1266 px at 1600 wide). The scan lines are
    curves, as in real frames, so no row band between them is empty."""
    rng = np.random.default_rng(seed)
    elevation, azimuth = np.meshgrid(np.deg2rad(np.linspace(-30.67, 10.67, 32)),
                                     np.deg2rad(np.arange(-60.0, 60.0, 0.33)), indexing='ij')
    rays = np.stack([np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth),
                     np.sin(elevation)], -1).reshape(-1, 3)
    with np.errstate(divide='ignore'):
        ground = np.where(rays[:, 2] < 0, -1.84 / np.minimum(rays[:, 2], -1e-9), np.inf)
        facade = 8.0 / np.abs(rays[:, 1])
        wall = 60.0 / np.maximum(rays[:, 0], 1e-9)
    ranges = np.minimum(np.minimum(ground, facade), wall) * (1 + 0.01 * rng.standard_normal(len(rays)))
    points = rays * ranges[:, None]
    points = points[(points[:, 0] > 1.0) & (rng.random(len(rays)) >= 0.05)]
    focal = 1266.0 * width / 1600
    cols = np.round(width / 2 - focal * points[:, 1] / points[:, 0]).astype(int)
    rows = np.round(height / 2 - focal * points[:, 2] / points[:, 0]).astype(int)
    inside = (cols >= 0) & (cols < width) & (rows >= 0) & (rows < height)
    depth = np.zeros((height, width), np.float32)
    depth[rows[inside], cols[inside]] = points[inside, 0]
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
        sparse = projected_sweep_depth()
        for name, ours, repeats in (('fill_in_fast', fill_in_fast, args.repeats),
                                    ('fill_in_multiscale', fill_in_multiscale, max(args.repeats // 2, 1))):
            if published is None:
                out[f'{name} ms/frame (900x1600, 1 thread)'] = _timed(lambda: ours(sparse), repeats)[0]
                continue
            theirs = getattr(published, name)
            # per round: wall time and this thread's CPU time (which other jobs on the machine disturb
            # less) of ours, then of the published code
            times = np.zeros((repeats, 2, 2))
            for i in range(repeats + 1):  # alternating, so that the machine's load hits both alike
                clocks = [(time.perf_counter(), time.thread_time())]
                mine = ours(sparse)
                clocks.append((time.perf_counter(), time.thread_time()))
                reference = theirs(sparse.copy())  # it works in place
                clocks.append((time.perf_counter(), time.thread_time()))
                if i:  # the first round warms up
                    times[i - 1] = np.diff(np.array(clocks), axis=0)
            reference = reference[0] if isinstance(reference, tuple) else reference
            ms = np.median(times[:, :, 0], axis=0) * 1000
            out[f'{name} ms/frame (900x1600, 1 thread)'] = float(ms[0])
            out[f'{name} published ms/frame'] = float(ms[1])
            out[f'{name} time ratio ours/published (median of rounds)'] = float(
                np.median(times[:, 0, 0] / times[:, 1, 0]))
            out[f'{name} CPU time ratio ours/published (median of rounds)'] = float(
                np.median(times[:, 0, 1] / times[:, 1, 1]))
            out[f'{name} max abs difference to published'] = float(np.abs(mine - reference).max())
    finally:
        cv2.setNumThreads(threads)
    return out


def _clustering_inputs(device, positions):
    """B=8 images, 2 x 196 tokens of width 384 (ViT-S/16 at 224x224), depths in metres, token positions on
    the two views' patch grids ('grid') or uniformly random in a 900x1600 image ('random')."""
    g = torch.Generator(device='cpu').manual_seed(0)
    batch, tokens, width = 8, 2 * 196, 384
    feats = torch.randn(batch, tokens, width, generator=g)
    if positions == 'grid':
        grid = torch.stack(torch.meshgrid(torch.arange(14.0), torch.arange(14.0), indexing='xy'), -1).reshape(-1, 2)
        pos = torch.cat([grid * 16 + 8, grid * 12 + 40]).expand(batch, -1, -1).contiguous()
    else:
        pos = torch.rand(batch, tokens, 2, generator=g) * torch.tensor([1600.0, 900.0])
    depths = torch.rand(batch, tokens, generator=g) * 60 + 2
    return feats.to(device), pos.to(device), depths.to(device)


def bench_clustering(args):
    from s3pt_mm.models.utils.spatial_clustering import spatial_clustering
    device = torch.device(args.device)
    settings = (('CrIBo settings (32 clusters, 5 iters)', 32, 5, {}),
                ('S3PT settings (128 clusters, 1 iter)', 128, 1, {}),
                ('S3PT settings (128 clusters, 1 iter) + depth 4', 128, 1, dict(depth_alpha=4.0)))
    out = {}
    for positions in ('grid', 'random'):
        feats, pos, depths = _clustering_inputs(device, positions)
        for name, clusters, iters, extra in settings:
            def ours():
                spatial_clustering(feats, pos, depths if extra else None, num_clusters=clusters, num_iters=iters,
                                   **extra)
                synchronize(device)

            ours_ms = _timed(ours, args.repeats)[0]
            out[f'ours, {name}, {positions} positions: ms/batch'] = ours_ms
            if args.cribo_dir and not extra:
                from cribo_reference import cribo_dir_or_exit, reference_clustering
                reference = reference_clustering(cribo_dir_or_exit(args.cribo_dir), clusters, iters, device.type)

                def official():
                    with torch.no_grad():
                        reference(feats, pos)
                    synchronize(device)

                ref_ms = _timed(official, max(args.repeats // 5, 2))[0]
                out[f'official CrIBo compute_assignments, {name}, {positions} positions: ms/batch'] = ref_ms
                out[f'speed-up over CrIBo, {name}, {positions} positions'] = ref_ms / ours_ms
    return out


MEMORY_CONFIGS = [f'{method}_{arch}' for arch in ('s16', 'b16') for method in ('dino', 'cribo', 's3pt')]
PRETRAIN_CONFIGS = {
    (method, arch): f'configs/pretrain/{method}_vit-{arch}_8xb32-{"500e" if arch == "s16" else "100e"}_nuscenes.py'
    for method in ('dino', 'cribo', 's3pt') for arch in ('s16', 'b16')}


def _config_name(method, arch):
    return f'{dict(dino="DINO", cribo="CrIBo", s3pt="S3PT")[method]} ViT-{arch[0].upper()}/16'


def _pretrain_step_figures(method, arch, device, batch, repeats):
    """s/step, images/s and peak memory of one configuration's pre-training step (fp16 AMP on CUDA)."""
    from mmengine.optim import build_optim_wrapper
    from pretrain_step import build_pretrain_model, check_finite_losses, pretrain_data
    model, cfg = build_pretrain_model(PRETRAIN_CONFIGS[method, arch])
    model.to(device)
    wrapper = dict(type='DINOAmpOptimWrapper', dtype='float16', loss_scale='dynamic') \
        if device.type == 'cuda' else dict(type='DINOOptimWrapper')
    optim = build_optim_wrapper(model, dict(optimizer=cfg.optim_wrapper.optimizer,
                                            paramwise_cfg=cfg.optim_wrapper.get('paramwise_cfg'), **wrapper))
    data = pretrain_data(batch)
    steps = [0]

    def step():
        log_vars = model.train_step(data, optim)
        check_finite_losses(log_vars, steps[0], f'{method} {arch}')
        steps[0] += 1
        model.update_teacher(0.996)
        synchronize(device)

    reset_peak_memory(device)
    median_ms, _ = _timed(step, max(repeats // 2, 2), warmup=2)
    name = f'{_config_name(method, arch)}, batch {batch}, {"fp16 AMP" if device.type == "cuda" else "float32"}, ' \
           f'{device.type}'
    memory = 'GPU allocated' if device.type == 'cuda' else 'process RSS, highest so far'
    return {f'{name}: s/step': median_ms / 1000, f'{name}: images/s': batch / (median_ms / 1000),
            f'{name}: peak memory MiB ({memory})': peak_memory_mib(device)}


def bench_pretrain(args):
    device = torch.device(args.device)
    batch = args.batch_size or (32 if device.type == 'cuda' else 8)
    archs = args.archs or (['s16', 'b16'] if device.type == 'cuda' else ['s16'])
    out = {}
    for arch in archs:
        for method in args.methods:
            out.update(_pretrain_step_figures(method, arch, device, batch, args.repeats))
    return out


def bench_memory(args):
    """Peak memory per GPU of one pre-training step of each paper config at --memory-images images (32),
    measured in float32 on this CPU at --memory-batches and extrapolated (tools/benchmarks/memory.py)."""
    import gc
    import logging

    from mmengine.logging import MMLogger

    from memory import amp_estimate, memory_figures
    if len(set(args.memory_batches)) < 2:
        raise SystemExit('--memory-batches: give at least two different batches (the fit is linear in the batch)')
    MMLogger.get_instance('mmengine').setLevel(logging.ERROR)  # init_weights / optimizer wrapper reports
    out = {}
    for key in args.memory_configs:
        method, arch = key.split('_')
        fig = memory_figures(PRETRAIN_CONFIGS[method, arch], tuple(args.memory_batches), args.memory_queue_images,
                             args.memory_images)
        fig['total_fp16_amp_estimate_bytes'] = amp_estimate(fig)
        out[_config_name(method, arch)] = fig
        gc.collect()  # one model at a time
    return out


GIB = 2**30


def memory_table(figures, limit_gib=24):
    """The memory section as a table (GiB) and the arithmetic of each row."""
    rows = [(name, fig) for name, fig in figures.items() if isinstance(fig, dict)]
    if not rows:
        return ''
    images = rows[0][1]['target_batch']
    head = ('config', 'params+grads+AdamW', 'queue', 'activations', 'object tensors', 'transients',
            'total fp32', 'fp16 AMP (estimate)', f'fits {limit_gib} GiB')
    lines = [f'Peak memory per GPU of one pre-training step at {images} images, GiB (measured on CPU in float32 '
             f'at {rows[0][1]["batches"]} images, extrapolated; object tensors at num_clusters objects per image)',
             ' | '.join(head)]
    for name, fig in rows:
        total = fig['total_bytes'] / GIB
        amp = fig['total_fp16_amp_estimate_bytes'] / GIB
        lines.append(' | '.join([name] + [f'{fig[k] / GIB:.2f}' for k in (
            'params_grads_adamw_bytes', 'queue_bytes', 'activations_bytes', 'object_tensors_bytes',
            'transient_bytes')] + [f'{total:.2f}', f'{amp:.2f}', 'yes' if total <= limit_gib else 'NO']))
    lines.append('')
    for name, fig in rows:
        mib = 2**20
        measured = ', '.join(f'B={b}: {p / mib:.0f} MiB ({o:.1f} objects/image)' for b, p, o in zip(
            fig['batches'], fig['measured_peak_above_start_bytes'], fig['objects_per_image_measured']))
        less = ', '.join(f'{p / mib:.0f}' for p in fig['measured_peak_less_objects_bytes'])
        lines += [
            f'{name} ({fig["config"]}):',
            f'  step peak above start, float32 CPU, queue of {fig["measured_queue_images"]} images: {measured}',
            f'  less the object tensors (B x objects/image x {fig["object_bytes_per_object"] / mib:.3f} MiB): '
            f'{less} MiB; linear fit: {fig["fit_intercept_bytes"] / mib:.0f} MiB + '
            f'{fig["activation_bytes_per_image"] / mib:.1f} MiB x B',
            f'  params+grads+AdamW = parameters {fig["parameters_bytes"] / mib:.0f} (student + teacher) + '
            f'gradients {fig["gradients_bytes"] / mib:.0f} + AdamW {fig["adamw_state_bytes"] / mib:.0f} + '
            f'buffers {fig["other_buffers_bytes"] / mib:.1f} MiB',
            f'  queue: {fig["queue_images"]} images x {fig["num_clusters"]} objects = {fig["queue_capacity_objects"]} '
            f'slots, ObjectQueue buffers {fig["queue_bytes"] / mib:.0f} MiB (exact)',
            f'  activations: {images} x {fig["activation_bytes_per_image"] / mib:.1f} MiB = '
            f'{fig["activations_bytes"] / mib:.0f} MiB',
            f'  object tensors: {images} images x {fig["num_clusters"]} objects x '
            f'{fig["object_bytes_per_object"] / mib:.3f} MiB '
            f'(= {fig["object_rows_per_object"]:.2f} float32 rows of {fig["num_prototypes"]} per object, measured) '
            f'= {fig["object_tensors_bytes"] / mib:.0f} MiB',
            f'  transients: fit intercept - gradients = {fig["transient_bytes"] / mib:.0f} MiB',
            f'  total: {fig["total_bytes"] / mib:.0f} MiB; fp16 AMP estimate (activations x 0.5, + fp16 weight '
            f'copies): {fig["total_fp16_amp_estimate_bytes"] / mib:.0f} MiB']
    return '\n'.join(lines)


def bench_step(args):
    from pretrain_step import compare_steps
    kinds = (['reference'] if args.cribo_dir else []) + list(args.step_configs)
    argv = ['--cribo-dir', args.cribo_dir] if args.cribo_dir else []
    argv += ['--batch-size', str(args.batch_size or 8), '--threads', str(args.threads),
             '--prototypes', str(args.prototypes), '--queue-images', str(args.queue_images)]
    opts = argparse.Namespace(batch_size=args.batch_size or 8, threads=args.threads, prototypes=args.prototypes,
                              queue_images=args.queue_images, warmup=1, rounds=args.step_rounds, part_steps=2)
    return compare_steps(opts, osp.abspath(__file__), argv, kinds)


def _ddp_worker(rank, world_size, port, broadcast_buffers, find_unused_parameters, steps, batch, results):
    """One rank of bench_ddp: S3PT ViT-S/16 in MMDistributedDataParallel with the given settings; counts
    the bytes entering each kind of collective on this rank and, on rank 0, the loopback traffic."""
    import os

    import torch.distributed as dist
    from mmengine.model import MMDistributedDataParallel
    from mmengine.optim import build_optim_wrapper
    from torch.distributed.algorithms.ddp_comm_hooks import default_hooks
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group('gloo', rank=rank, world_size=world_size)
    counts = {'gradient buckets (all_reduce)': 0, 'buffer broadcasts': 0, 's3pt_mm collectives': 0}
    in_hook = [False]

    def nbytes(tensors):
        tensors = tensors if isinstance(tensors, (list, tuple)) else [tensors]
        return sum(t.numel() * t.element_size() for t in tensors)

    def counting(name, fn, skip_in_hook=False):
        def wrapped(*a, **k):
            if not (skip_in_hook and in_hook[0]):
                counts[name] += nbytes(a[1] if name == 'buffer broadcasts' else a[0])
            return fn(*a, **k)
        return wrapped

    dist.all_reduce = counting('s3pt_mm collectives', dist.all_reduce, skip_in_hook=True)
    dist.all_gather = counting('s3pt_mm collectives', dist.all_gather)
    dist._broadcast_coalesced = counting('buffer broadcasts', dist._broadcast_coalesced)

    def hook(state, bucket):
        counts['gradient buckets (all_reduce)'] += nbytes(bucket.buffer())
        in_hook[0] = True
        try:
            return default_hooks.allreduce_hook(None, bucket)
        finally:
            in_hook[0] = False

    from pretrain_step import build_pretrain_model, pretrain_data
    model, cfg = build_pretrain_model(PRETRAIN_CONFIGS['s3pt', 's16'])
    ddp = MMDistributedDataParallel(module=model, broadcast_buffers=broadcast_buffers,
                                    find_unused_parameters=find_unused_parameters)
    ddp.register_comm_hook(None, hook)
    optim = build_optim_wrapper(ddp, dict(type='DINOOptimWrapper', optimizer=cfg.optim_wrapper.optimizer,
                                          paramwise_cfg=cfg.optim_wrapper.get('paramwise_cfg')))
    data = pretrain_data(batch)
    ddp.train_step(data, optim)  # DDP's first step (bucket rebuild) is not counted
    for key in counts:
        counts[key] = 0
    dist.barrier()
    loopback = _loopback_bytes()
    start = time.perf_counter()
    for _ in range(steps):
        ddp.train_step(data, optim)
    dist.barrier()
    elapsed = time.perf_counter() - start
    loopback = _loopback_bytes() - loopback
    results[rank] = dict(counts={k: v / steps for k, v in counts.items()}, loopback=loopback / steps,
                         step_s=elapsed / steps)
    dist.destroy_process_group()


def _loopback_bytes():
    """Bytes sent on the loopback interface so far (Linux /proc/net/dev; 0 elsewhere)."""
    try:
        with open('/proc/net/dev') as f:
            for line in f:
                name, _, data = line.partition(':')
                if name.strip() == 'lo':
                    return int(data.split()[8])
    except OSError:
        pass
    return 0


def bench_ddp(args):
    import socket

    import torch.multiprocessing as mp
    out = {}
    ctx = mp.get_context('spawn')
    for label, broadcast, unused in (('DDP defaults (broadcast_buffers, find_unused_parameters)', True, True),
                                     ("the configs' DDP settings", False, False)):
        with socket.socket() as sock:
            sock.bind(('127.0.0.1', 0))
            port = sock.getsockname()[1]
        with ctx.Manager() as manager:
            results = manager.dict()
            procs = [ctx.Process(target=_ddp_worker, args=(rank, 2, port, broadcast, unused, args.ddp_steps, 2,
                                                           results)) for rank in range(2)]
            for proc in procs:
                proc.start()
            for proc in procs:
                proc.join()
            if any(proc.exitcode != 0 for proc in procs):
                raise SystemExit(f'a DDP benchmark process failed ({label})')
            rank0 = dict(results[0])
        for kind, value in rank0['counts'].items():
            out[f'{label}: {kind}, MB per step per rank'] = value / 1e6
        out[f'{label}: total, MB per step per rank'] = sum(rank0['counts'].values()) / 1e6
        out[f'{label}: loopback traffic of both ranks, MB per step'] = rank0['loopback'] / 1e6
        out[f'{label}: s/step (2 ranks x 1 thread, batch 2 each)'] = rank0['step_s']
    return out


#: the pipeline section's configs: S3PT's depth-aware views, CrIBo's (the same without depth maps), DINO's
#: multi-crop
PIPELINE_CONFIGS = {'S3PT ViT-S/16': 's3pt_vit-s16_8xb32-500e_nuscenes.py',
                    'CrIBo ViT-S/16': 'cribo_vit-s16_8xb32-500e_nuscenes.py',
                    'DINO ViT-S/16': 'dino_vit-s16_8xb32-500e_nuscenes.py'}


def bench_pipeline(args):
    """CPU ms per image of the S3PT, CrIBo and DINO pre-training pipelines (configs/pretrain/, in one data-loader
    worker's setting) on the 900x1600 frame, in total and per transform (tools/benchmarks/pipeline.py):
    before (the generic transforms they replaced), after, after on the frame as create_data.py
    --image-scale 0.5 stores it, and the workers' part of the configs that render the views on the device
    (``*_device-views.py``), with the time ``--device`` takes to decode and render a batch of them."""
    import tempfile

    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import s3pt_mm.datasets  # noqa: F401
    from pipeline import generic_pipeline, profile_pipeline, render_timing, scaled_frame, write_frame
    init_default_scope('mmpretrain')
    frame_files = args.pipeline_frame or []
    if len(frame_files) > 2:
        raise SystemExit(f'--pipeline-frame takes an image and optionally its depth PNG, got {frame_files}')
    image, depth = (frame_files + [None, None])[:2]
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        frame = write_frame(tmp, image, depth)
        frames = [frame, scaled_frame(frame, 0.5)]
        for method, config in PIPELINE_CONFIGS.items():
            pipeline = Config.fromfile(osp.join(ROOT, 'configs/pretrain', config)).train_dataloader.dataset.pipeline
            device_views = Config.fromfile(osp.join(ROOT, 'configs/pretrain', config.replace(
                '.py', '_device-views.py')))
            runs = {'before (generic transforms)': (generic_pipeline(pipeline), frames[0]),
                    'after': (pipeline, frames[0]), 'after, --image-scale 0.5': (pipeline, frames[1]),
                    'views rendered on the device (worker part)': (device_views.train_dataloader.dataset.pipeline,
                                                                   frames[0])}
            for run, (pipeline_cfg, info) in runs.items():
                figures = profile_pipeline(pipeline_cfg, info, args.repeats * 2)
                out[f'{method} | {run} | CPU ms/image'] = figures['total']
                out[f'{method} | {run} | images/s per worker core'] = 1000 / figures['total']
                out[f'{method} | {run} | worker cores per GPU at {args.gpu_images_per_s:g} images/s'] = \
                    args.gpu_images_per_s * figures['total'] / 1000
                out[f'{method} | {run} | per transform'] = figures['per_transform']
            out.update(render_timing(device_views, frame, method, args.device, args.repeats,
                                     args.render_batch_size))
    return out


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


SECTIONS = dict(ip_basic=bench_ip_basic, clustering=bench_clustering, step=bench_step, pretrain=bench_pretrain,
                ddp=bench_ddp, pipeline=bench_pipeline, create_data=bench_create_data, memory=bench_memory)
#: the sections run without --only (step, pretrain and ddp build full-size models: minutes on a CPU;
#: create_data needs --nuscenes-root)
DEFAULT_SECTIONS = ('ip_basic', 'clustering', 'pipeline', 'create_data')


def main(argv=None):
    parser = argparse.ArgumentParser(description='s3pt_mm benchmarks')
    parser.add_argument('--only', nargs='+', choices=sorted(SECTIONS),
                        help=f'sections to run (default: {" ".join(DEFAULT_SECTIONS)})')
    parser.add_argument('--json', help='also write the figures to this JSON file')
    parser.add_argument('--repeats', type=int, default=10)
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--cribo-dir', default=os.environ.get('CRIBO_DIR'),
                        help='a CrIBo checkout (tileb1/CrIBo) to time the official code against (or $CRIBO_DIR)')
    parser.add_argument('--batch-size', type=int, default=None,
                        help='pre-training batch (images; default 32 on CUDA, 8 on CPU)')
    parser.add_argument('--methods', nargs='+', choices=['dino', 'cribo', 's3pt'], default=['dino', 'cribo', 's3pt'],
                        help='pretrain: methods')
    parser.add_argument('--archs', nargs='+', choices=['s16', 'b16'],
                        help='pretrain: ViT-S/16, ViT-B/16 (default both on CUDA, s16 on CPU)')
    parser.add_argument('--threads', type=int, default=torch.get_num_threads(), help='step: torch threads per worker')
    parser.add_argument('--step-rounds', type=int, default=5, help='step: timed rounds (median)')
    parser.add_argument('--step-configs', nargs='+', choices=['cribo', 's3pt'], default=['cribo', 's3pt'],
                        help="step: s3pt_mm's configurations timed (beside the reference with --cribo-dir)")
    parser.add_argument('--prototypes', type=int, default=65536, help='step: prototypes per layer')
    parser.add_argument('--queue-images', type=int, default=25000, help="step: CrIBo's queue, in images")
    parser.add_argument('--ddp-steps', type=int, default=2, help='ddp: counted steps')
    parser.add_argument('--memory-configs', nargs='+', default=MEMORY_CONFIGS, choices=MEMORY_CONFIGS,
                        help='memory: paper configs (method_arch), one built at a time')
    parser.add_argument('--memory-batches', nargs='+', type=int, default=[4, 8],
                        help='memory: batches measured on the CPU (at least two, for the linear fit)')
    parser.add_argument('--memory-images', type=int, default=32, help='memory: images per GPU extrapolated to')
    parser.add_argument('--memory-queue-images', type=int, default=16,
                        help="memory: queue of the measured step (the config's full queue is counted exactly)")
    parser.add_argument('--step-worker', help=argparse.SUPPRESS)
    parser.add_argument('--ip-basic-dir', default=os.environ.get('IP_BASIC_DIR'),
                        help='folder of the published depth_map_utils.py, to time it side by side '
                        '(default: $IP_BASIC_DIR)')
    parser.add_argument('--pipeline-frame', nargs='+', metavar='FILE',
                        help='pipeline: time your own camera image (and its 16-bit depth PNG from create_data.py; '
                        'default: the benchmark sweep at half the image size) instead of the benchmark frame')
    parser.add_argument('--gpu-images-per-s', type=float, default=1500.0,
                        help='pipeline: the GPU speed the worker cores per GPU are given for')
    parser.add_argument('--render-batch-size', type=int, default=32,
                        help='pipeline: samples per batch rendered on --device by DeferredViewsDataPreprocessor')
    parser.add_argument('--nuscenes-root', help='nuScenes v1.0-mini root for the create_data section')
    parser.add_argument('--workers', type=int, default=2, help='create_data worker processes')
    parser.add_argument('--create-data-runs', type=int, default=3, help='create_data conversions timed')
    args = parser.parse_args(argv)
    if args.step_worker:
        from pretrain_step import worker
        return worker(args.step_worker, args)
    results = dict(machine=dict(python=platform.python_version(), torch=torch.__version__,
                                cpu_threads=torch.get_num_threads(), device=args.device,
                                gpu=torch.cuda.get_device_name() if args.device.startswith('cuda') else None))
    for name in args.only or DEFAULT_SECTIONS:
        print(f'[benchmark] {name} ...', file=sys.stderr, flush=True)
        results[name] = SECTIONS[name](args)
    width = max(len(k) for section in results.values() for k in section)
    for name, figures in results.items():
        print(f'\n## {name}')
        for key, value in figures.items():
            if isinstance(value, dict):  # the memory section's rows: printed as its table
                continue
            shown = f'{value:.2f}' if isinstance(value, float) else value
            print(f'{key:<{width}}  {shown}')
        if name == 'memory':
            print(memory_table(figures))
        if name == 'pipeline':
            from pipeline import pipeline_table
            print(pipeline_table(figures))
    if args.json:
        write_json_atomic(args.json, results)
    return results


if __name__ == '__main__':
    main()
