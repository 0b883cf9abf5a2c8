"""One command that checks the GPU path: every pre-training config under its AMP precision, speed and memory at
32 images per GPU, a 2-process DDP step, and a few Segmenter and PETR iterations; one table at the end.

    python tools/gpu_check.py                      # on a GPU machine: the full check (docs/gpu_check.md)
    python tools/gpu_check.py --table1             # ... and the eleven Table 1 rows
    python tools/gpu_check.py --tiny               # the same at tiny size on the CPU (automatic without a GPU)
    python tools/gpu_check.py --json out.json      # also write the rows as JSON ('-': to stdout)

Checks, each a row of the table (``PASS`` / ``FAIL`` and the reason):

1. ``mmcv ops``: on CUDA, mmcv must have CUDA ops (:func:`s3pt_mm.utils.runner.cuda_ops_problem`).
2. ``pretrain``: each config of ``configs/pretrain`` built as configured (65536 prototypes, its clusters and
   queue), ``--steps`` training steps through its own ``DINOAmpOptimWrapper`` (fp16 and dynamic loss scaling
   on a GPU as configured; bf16 on a CPU, ``--dtype``), the first at epoch 0 with an empty queue, the others
   at epoch 1 with a full queue (random entries, as CrIBo initialises it). After every step: each logged loss
   finite, the probability/logit centres (``global_loss.center``, ``object_loss.center``) finite, the queue's
   write check (``queue.write_status``) clean, the loss scale positive. The steps after ``--warmup`` are timed
   (synchronised): images/s at ``--batch-size`` (32 on a GPU) and the peak memory
   (``torch.cuda.max_memory_allocated``; on a CPU the process's peak RSS so far). The configs that render their
   views on the GPU (``*_device-views.py``) get batches of their own data pipeline on the benchmark frame, so
   their steps include decoding the JPEGs and rendering the views (``DeferredViewsDataPreprocessor``).
3. ``ddp``: with two GPUs (``nccl``; at tiny size two CPU processes with ``gloo``), the S3PT ViT-S/16 config in
   ``MMDistributedDataParallel``, two steps on different data per rank: losses finite and the parameters
   identical on both ranks afterwards.
4. ``segmenter`` / ``petr``: the demo configs (``configs/demo/segmenter-linear_vit-demo_synthetic-nuimages.py``,
   ``configs/detection3d/demo/petr_vit-demo-frozen_synthetic.py``) on synthetic data made here
   (``s3pt_mm.synthetic``, the nuImages label conversion, ``tools/create_data.py nuscenes``), ``--steps``
   iterations through their data loaders under AMP: losses finite, images/s and peak memory.

The figure to compare against: S3PT ViT-S/16 at 32 images, at least 1500 images/s on one H100-class GPU.
The exit status is 0 only when every check passed.
"""
import argparse
import json
import math
import os
import os.path as osp
import subprocess
import sys
import tempfile
import time
import traceback

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(ROOT, 'tools', 'benchmarks'))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
from pretrain_step import peak_memory_mib, reset_peak_memory, synchronize  # noqa: E402

#: images/s of S3PT ViT-S/16 at 32 images on one H100-class GPU, the target of issue 28.
TARGET_IMAGES_PER_S = 1500
TARGET_CONFIG = 's3pt_vit-s16_8xb32-500e_nuscenes.py'
SEGMENTER = 'configs/demo/segmenter-linear_vit-demo_synthetic-nuimages.py'
PETR = 'configs/detection3d/demo/petr_vit-demo-frozen_synthetic.py'
DEMO_PRETRAIN = 'configs/demo/s3pt_vit-demo_synthetic.py'
#: What --tiny changes (besides batch, steps, image size): prototypes, clusters and queue images at most.
TINY_LIMITS = dict(prototypes=1024, clusters=8, queue_images=8)


def pretrain_configs(table1=False):
    """Paths (relative to the repository root) of the pre-training configs, Table 1 rows with ``table1``."""
    folder = osp.join(ROOT, 'configs', 'pretrain')
    names = sorted(f for f in os.listdir(folder) if f.endswith('.py'))
    paths = [f'configs/pretrain/{f}' for f in names]
    if table1:
        rows = sorted(f for f in os.listdir(osp.join(folder, 'table1_ablation')) if f[0].isdigit())
        paths += [f'configs/pretrain/table1_ablation/{f}' for f in rows]
    return paths


class CheckFailed(Exception):
    """A check's condition that does not hold (the row's reason)."""


def _finite(value):
    import torch
    return bool(torch.isfinite(torch.as_tensor(value).detach().float()).all())


def _number(value):
    import torch
    return float(torch.as_tensor(value).detach().float().sum())


def check_pretrain_state(model, log_vars, wrapper=None):
    """Raise :class:`CheckFailed` unless the step's logged values, the centres and the queue are finite."""
    bad = {k: _number(v) for k, v in log_vars.items() if not _finite(v)}
    if bad:
        raise CheckFailed(f'non-finite logged values {bad}')
    for name in ('global_loss', 'object_loss'):
        loss = getattr(model, name, None)
        if loss is not None and getattr(loss, 'center', None) is not None and not _finite(loss.center):
            raise CheckFailed(f'{name}.center is not finite')
    queue = getattr(model, 'queue', None)
    if queue is not None and float(queue.write_status) != 0.0:
        raise CheckFailed(f'queue.write_status = {float(queue.write_status)} (a non-finite entry was written)')
    if wrapper is not None and hasattr(wrapper, 'loss_scaler'):
        scale = float(wrapper.loss_scaler.get_scale())
        if not (math.isfinite(scale) and scale > 0):
            raise CheckFailed(f'loss scale {scale}')


def quiet_logs():
    """mmengine's current logger at ERROR: no per-parameter initialisation and optimizer messages between
    the progress lines (stderr) and the table (stdout)."""
    from mmengine.logging import MMLogger
    MMLogger.get_instance(f'gpu_check_{os.getpid()}', log_level='ERROR')


def build_pretrain(config, tiny):
    """``(model, cfg)`` of a pre-training config, initialised with seed 0, training mode, epoch 0, queue
    empty; ``tiny`` caps prototypes, clusters and queue images (:data:`TINY_LIMITS`)."""
    import torch
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS

    import s3pt_mm.engine  # noqa: F401  (the DINO optimizer wrappers)
    import s3pt_mm.models  # noqa: F401
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(osp.join(ROOT, config))
    model_cfg = cfg.model
    if tiny:
        k = TINY_LIMITS['prototypes']
        model_cfg.head.num_prototypes = k
        for loss in ('global_loss', 'object_loss'):
            if model_cfg.get(loss):
                model_cfg[loss].out_channels = k
        if model_cfg.get('clustering'):
            model_cfg.clustering.num_clusters = min(model_cfg.clustering.num_clusters, TINY_LIMITS['clusters'])
        if model_cfg.get('queue_size'):
            model_cfg.queue_size = min(model_cfg.queue_size, TINY_LIMITS['queue_images'])
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    model.init_weights()
    model.set_epoch(0)
    model.train()
    return model, cfg


def pretrain_batch(batch, img, seed=0):
    """Two uint8 views of ``img`` pixels per image with the token geometry of the pre-training pipeline (the
    crops of :func:`pretrain_step.make_inputs`; :func:`pretrain_step.pretrain_data` at any view size)."""
    import torch
    from mmpretrain.structures import DataSample
    from pretrain_step import make_inputs
    views, _, token_pos, depths = make_inputs(batch, seed=seed, size=img)
    positions = torch.stack(token_pos, dim=1)  # (B, 2 views, P, 2)
    valid = torch.ones(2, depths.shape[-1], dtype=torch.bool)
    return dict(inputs=views, data_samples=[
        DataSample(token_positions=positions[b], token_depths=depths[b], token_depth_valid=valid.clone())
        for b in range(batch)])


def renders_views(cfg) -> bool:
    """Whether the config renders its views on the device (``configs/pretrain/*_device-views.py``)."""
    return cfg.model.data_preprocessor.type == 'DeferredViewsDataPreprocessor'


def pipeline_batch(cfg, frame, batch, img, seed=0):
    """A batch made by the config's own data pipeline from the benchmark frame ``frame`` (for the configs that
    render their views on the device: recipes and the JPEG's bytes, which the model's data preprocessor decodes
    and renders in the timed step), its 224x224 crops made ``img`` pixels."""
    import copy
    import random

    import numpy as np
    from mmcv.transforms import Compose
    from mmengine.dataset import default_collate
    pipeline_cfg = copy.deepcopy(cfg.train_dataloader.dataset.pipeline)
    for transform in pipeline_cfg:
        for group in transform.get('transforms', []) if transform['type'] == 'MultiViewWithDepth' else []:
            for view_transform in group:
                if view_transform['type'] == 'RandomResizedCropWithDepth' and view_transform['size'] == 224:
                    view_transform['size'] = img
    pipeline = Compose(pipeline_cfg)
    random.seed(seed)
    np.random.seed(seed)
    return default_collate([pipeline(dict(frame, sample_idx=i)) for i in range(batch)])


def amp_wrapper(model, cfg, dtype):
    """The config's own optimizer wrapper (``DINOAmpOptimWrapper``), with ``dtype`` when given."""
    import copy

    from mmengine.optim import build_optim_wrapper
    wrapper_cfg = copy.deepcopy(cfg.optim_wrapper)
    if dtype:
        wrapper_cfg.dtype = dtype
    return build_optim_wrapper(model, wrapper_cfg)


def _dtype_name(wrapper):
    dtype = getattr(wrapper, 'cast_dtype', None)
    return str(dtype).replace('torch.', '') if dtype else 'autocast default'


def run_pretrain(config, opts, device, frame):
    """One ``pretrain`` row: AMP steps with checks, then the timing and memory figures. A config that renders its
    views on the device gets batches of its own pipeline on ``frame()`` (the benchmark frame), so that its steps
    include decoding and rendering them."""
    from pretrain_step import fill_queue, median
    model, cfg = build_pretrain(config, opts.tiny)
    model.to(device)
    wrapper = amp_wrapper(model, cfg, opts.dtype)
    reset_peak_memory(device)
    times = []
    for step in range(opts.steps):
        data = pipeline_batch(cfg, frame(), opts.batch_size, opts.img, seed=step) if renders_views(cfg) else \
            pretrain_batch(opts.batch_size, opts.img, seed=step)
        if step == 1:  # epoch 1 with a full queue from here on (the cross-image term on)
            model.set_epoch(1)
            if model.queue is not None:
                fill_queue(model.queue)
        synchronize(device)
        start = time.perf_counter()
        log_vars = model.train_step(data, wrapper)
        model.update_teacher(0.996)
        synchronize(device)
        times.append(time.perf_counter() - start)
        check_pretrain_state(model, log_vars, wrapper)
    timed = times[opts.warmup:] or times[-1:]
    step_s = median(timed)
    return dict(steps=opts.steps, images_per_s=opts.batch_size / step_s, step_s=step_s,
                peak_mib=peak_memory_mib(device), dtype=_dtype_name(wrapper),
                loss=sum(_number(v) for k, v in log_vars.items() if k.startswith('loss')))


def _ddp_worker(rank, world_size, port, opts_dict, out_dir):
    import torch
    import torch.distributed as dist
    from mmengine.model import MMDistributedDataParallel
    opts = argparse.Namespace(**opts_dict)
    result = dict(rank=rank)
    quiet_logs()
    try:
        os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port), RANK=str(rank),
                          WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank))
        cuda = not opts.tiny
        if cuda:
            torch.cuda.set_device(rank)
        else:
            torch.set_num_threads(1)
        dist.init_process_group('nccl' if cuda else 'gloo', rank=rank, world_size=world_size)
        device = torch.device('cuda', rank) if cuda else torch.device('cpu')
        model, cfg = build_pretrain(f'configs/pretrain/{TARGET_CONFIG}', opts.tiny)
        model.to(device)
        ddp = MMDistributedDataParallel(module=model, device_ids=[rank] if cuda else None,
                                        broadcast_buffers=False, find_unused_parameters=False)
        wrapper = amp_wrapper(ddp, cfg, opts.dtype)
        start = time.perf_counter()
        for step in range(2):
            model.set_epoch(step)
            log_vars = ddp.train_step(pretrain_batch(opts.batch_size, opts.img, seed=100 * rank + step), wrapper)
            check_pretrain_state(model, log_vars, wrapper)
        synchronize(device)
        result['step_s'] = (time.perf_counter() - start) / 2
        result['dtype'] = _dtype_name(wrapper)
        # the same parameters on both ranks after the steps
        checksum = torch.stack([p.detach().double().sum() for p in model.parameters()]).to(device)
        spread = checksum.clone()
        gathered = [torch.zeros_like(checksum) for _ in range(world_size)]
        dist.all_gather(gathered, spread)
        result['max_param_diff'] = float(max((g - gathered[0]).abs().max() for g in gathered))
        result['ok'] = True
        dist.destroy_process_group()
    except Exception as e:  # reported in the table; the other rank then fails too, or times out
        result.update(ok=False, error=f'{type(e).__name__}: {e}', trace=traceback.format_exc()[-2000:])
    with open(osp.join(out_dir, f'rank{rank}.json'), 'w') as f:
        json.dump(result, f)


def run_ddp(opts):
    """The ``ddp`` row: two processes (``torch.multiprocessing.spawn``)."""
    import socket

    import torch.multiprocessing as mp
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    out_dir = tempfile.mkdtemp(prefix='s3pt_gpu_check_ddp_')
    mp.spawn(_ddp_worker, args=(2, port, vars(opts), out_dir), nprocs=2, join=True)
    results = []
    for rank in range(2):
        path = osp.join(out_dir, f'rank{rank}.json')
        if not osp.exists(path):
            raise CheckFailed(f'rank {rank} wrote no result')
        with open(path) as f:
            results.append(json.load(f))
    failed = [r for r in results if not r['ok']]
    if failed:
        raise CheckFailed(f"rank {failed[0]['rank']}: {failed[0]['error']}\n{failed[0].get('trace', '')}")
    diff = max(r['max_param_diff'] for r in results)
    if diff != 0.0:
        raise CheckFailed(f'parameters differ between the ranks after 2 steps (checksum difference {diff})')
    step_s = max(r['step_s'] for r in results)
    return dict(steps=2, step_s=step_s, images_per_s=2 * opts.batch_size / step_s, peak_mib=None,
                dtype=results[0]['dtype'], note=f'2 processes, {opts.batch_size} images each')


def make_downstream_data(work_dir, tiny):
    """Synthetic nuScenes (with the PETR infos) and nuImages (with the segmentation labels) under ``work_dir``,
    and a backbone checkpoint: ``(nuscenes root, nuimages root, nuimages label root, checkpoint)``."""
    from s3pt_mm.converters.nuimages_seg import convert_version
    from s3pt_mm.synthetic import generate_synthetic_dataset
    root = osp.join(work_dir, 'data')
    if not osp.isdir(osp.join(root, 'nuscenes')):
        generate_synthetic_dataset(root, seed=0, num_scenes=2, samples_per_scene=3,
                                   image_size=(90, 160) if tiny else (180, 320), lidar_azimuth_step=0.5)
    nuscenes, nuimages = osp.join(root, 'nuscenes'), osp.join(root, 'nuimages')
    if not osp.exists(osp.join(nuscenes, 'nuscenes_infos_train.pkl')):
        subprocess.run([sys.executable, osp.join(ROOT, 'tools', 'create_data.py'), 'nuscenes', '--root-path',
                        nuscenes, '--version', 'v1.0-mini', '--workers', '0'], check=True, capture_output=True,
                       env=dict(os.environ, PYTHONPATH=ROOT))
    labels = osp.join(work_dir, 'nuimages_seg')
    if not osp.isdir(labels):
        convert_version(nuimages, 'v1.0-train', out_dir=labels, progress=False)
    checkpoint = osp.join(work_dir, 'demo_pretrain_init.pth')
    if not osp.exists(checkpoint):
        # the frozen backbone the demo configs load: the demo S3PT model as initialised (a pre-training
        # checkpoint of epoch 0); this check times and checks the downstream step, not its accuracy
        import torch
        model, _ = build_pretrain(DEMO_PRETRAIN, tiny=False)
        torch.save(dict(meta=dict(epoch=0), state_dict=model.state_dict()), checkpoint)
    return nuscenes, nuimages, labels, checkpoint


def downstream_config(kind, opts, data, work_dir):
    """The demo config of ``kind`` (``'segmenter'`` or ``'petr'``) on the synthetic data, AMP on."""
    from mmengine.config import Config
    nuscenes, nuimages, labels, checkpoint = data
    cfg = Config.fromfile(osp.join(ROOT, SEGMENTER if kind == 'segmenter' else PETR))
    loader = cfg.train_dataloader
    loader.update(num_workers=0, persistent_workers=False)
    if kind == 'segmenter':
        # labels and split files under the converter's output, the images where the generator wrote them
        loader.dataset.data_root = labels
        loader.dataset.data_prefix = dict(img_path=nuimages, seg_map_path='semantic_labels')
        loader.batch_size = 2 if opts.tiny else 8
        cfg.model.backbone.checkpoint = checkpoint
    else:
        loader.dataset.data_root = nuscenes + '/'
        loader.batch_size = 1
        cfg.model.img_backbone.checkpoint = checkpoint
    cfg.work_dir = work_dir
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.test_cfg = cfg.test_dataloader = cfg.test_evaluator = None
    if opts.tiny:  # the CPU's AMP (torch's CPU GradScaler and autocast) behind the same wrapper
        cfg.optim_wrapper.type = 'mmpretrain.DINOAmpOptimWrapper'
        cfg.optim_wrapper.dtype = opts.dtype
    else:  # what tools/train.py --amp configures
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        if opts.dtype:
            cfg.optim_wrapper.dtype = opts.dtype
    cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    cfg.default_hooks.checkpoint = None
    cfg.default_hooks.logger = None
    cfg.log_level = 'ERROR'
    return cfg


def run_downstream(kind, opts, data, work_dir, device):
    """A ``segmenter`` / ``petr`` row: ``--steps`` iterations from the config's own data loader."""
    from pretrain_step import median

    import s3pt_mm.engine  # noqa: F401  (DINOAmpOptimWrapper for the CPU)
    from s3pt_mm.utils.runner import build_runner
    cfg = downstream_config(kind, opts, data, work_dir)
    runner = build_runner(cfg)
    model = runner.model
    model.init_weights()
    wrapper = runner.build_optim_wrapper(cfg.optim_wrapper)
    loader = runner.build_dataloader(cfg.train_dataloader)
    reset_peak_memory(device)
    times, step, images = [], 0, 0
    while step < opts.steps:
        for batch in loader:
            synchronize(device)
            start = time.perf_counter()
            log_vars = model.train_step(batch, wrapper)
            synchronize(device)
            times.append(time.perf_counter() - start)
            bad = {k: _number(v) for k, v in log_vars.items() if not _finite(v)}
            if bad:
                raise CheckFailed(f'non-finite logged values {bad}')
            images = len(batch['data_samples'])
            step += 1
            if step == opts.steps:
                break
    timed = times[opts.warmup:] or times[-1:]
    step_s = median(timed)
    note = f'{images} sample(s) of 6 camera images per step' if kind == 'petr' else f'{images} images per step'
    return dict(steps=opts.steps, step_s=step_s, images_per_s=images / step_s, peak_mib=peak_memory_mib(device),
                dtype=_dtype_name(wrapper),
                loss=sum(_number(v) for k, v in log_vars.items() if 'loss' in k), note=note)


def mmcv_row(device):
    from s3pt_mm.utils.runner import cuda_ops_problem, mmcv_ops_flavour
    flavour = mmcv_ops_flavour()
    problem = cuda_ops_problem(flavour, device.type == 'cuda')
    if problem:
        raise CheckFailed(problem)
    if flavour == 'missing':
        raise CheckFailed('mmcv has no compiled ops (bash tools/setup_env.sh builds them)')
    return dict(note=f'mmcv ops: {flavour}')


def _row(check, name, fn, rows, verbose=True):
    start = time.perf_counter()
    print(f'[gpu_check] {check}: {name} ...', file=sys.stderr, flush=True)
    row = dict(check=check, name=name)
    try:
        row.update(fn())
        row['passed'] = True
    except Exception as e:  # every failure becomes a row; the others still run
        row.update(passed=False, reason=f'{type(e).__name__}: {e}')
        if verbose and not isinstance(e, CheckFailed):
            traceback.print_exc()
    row['seconds'] = time.perf_counter() - start
    print(f'[gpu_check] {check}: {name}: {"PASS" if row["passed"] else "FAIL " + row["reason"][:500]} '
          f'({row["seconds"]:.1f} s)', file=sys.stderr, flush=True)
    rows.append(row)
    return row


def _fmt(value, digits=1):
    return '-' if value is None else f'{value:.{digits}f}'


def format_table(rows, opts, device_name):
    """The markdown table of the rows, with the target line."""
    lines = [f'gpu_check on {device_name}: {"tiny size, " if opts.tiny else ""}batch {opts.batch_size}, '
             f'{opts.img}x{opts.img} views (pre-training), {opts.steps} steps ({opts.warmup} untimed); peak MiB: '
             f'{"the process peak RSS so far" if device_name == "CPU" else "torch.cuda.max_memory_allocated"}', '',
             '| check | config | result | dtype | images/s | s/step | peak MiB | note |',
             '|---|---|---|---|---|---|---|---|']
    for r in rows:
        result = 'PASS' if r['passed'] else 'FAIL: ' + r['reason'].splitlines()[0][:200]
        lines.append(f"| {r['check']} | {r['name']} | {result} | {r.get('dtype', '-')} | "
                     f"{_fmt(r.get('images_per_s'))} | {_fmt(r.get('step_s'), 3)} | {_fmt(r.get('peak_mib'), 0)} | "
                     f"{r.get('note', '')} |")
    target = [r for r in rows if r['check'] == 'pretrain' and r['name'].endswith(TARGET_CONFIG)]
    lines.append('')
    if target and target[0].get('images_per_s'):
        verdict = 'n/a at tiny size' if opts.tiny else (
            'met' if target[0]['images_per_s'] >= TARGET_IMAGES_PER_S else 'NOT met')
        lines.append(f"target: S3PT ViT-S/16 >= {TARGET_IMAGES_PER_S} images/s at 32 images on one H100-class GPU; "
                     f"here {target[0]['images_per_s']:.1f} images/s ({verdict})")
    passed = sum(r['passed'] for r in rows)
    lines.append(f'{passed}/{len(rows)} checks passed')
    return '\n'.join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Check the GPU path: AMP pre-training steps, speed and memory, '
                                     'DDP, Segmenter and PETR iterations')
    parser.add_argument('--tiny', action='store_true',
                        help='tiny size on the CPU (automatic without a GPU): batch 2, 96x96 views, '
                        f'{TINY_LIMITS["prototypes"]} prototypes, at most {TINY_LIMITS["clusters"]} clusters')
    parser.add_argument('--table1', action='store_true',
                        help='also the Table 1 rows (configs/pretrain/table1_ablation)')
    parser.add_argument('--configs', nargs='+', metavar='CONFIG', help='only these pre-training configs')
    parser.add_argument('--batch-size', type=int, help='images per GPU (default: 32; tiny: 2)')
    parser.add_argument('--img', type=int, help='view size in pixels (default: 224; tiny: 96)')
    parser.add_argument('--steps', type=int, help='training steps per check (default: 8; tiny: 3)')
    parser.add_argument('--warmup', type=int, help='untimed first steps (default: 3; tiny: 1)')
    parser.add_argument('--dtype', choices=['float16', 'bfloat16'],
                        help="AMP dtype (default: the configs' float16 on a GPU, bfloat16 on a CPU, where fp16 "
                        'matrix products are very slow)')
    parser.add_argument('--skip', nargs='+', default=[], choices=['pretrain', 'ddp', 'segmenter', 'petr'],
                        help='leave these checks out')
    parser.add_argument('--work-dir', help='where the synthetic data and logs go (default: a temporary folder)')
    parser.add_argument('--json', metavar='FILE', help="also write the rows as JSON to FILE ('-': stdout)")
    return parser.parse_args(argv)


def main(argv=None):
    opts = parse_args(argv)
    import torch
    quiet_logs()
    if not torch.cuda.is_available() and not opts.tiny:
        print('[gpu_check] no CUDA GPU here: running at tiny size on the CPU (--tiny)', file=sys.stderr)
        opts.tiny = True
    device = torch.device('cpu') if opts.tiny else torch.device('cuda', 0)
    defaults = dict(batch_size=2, img=96, steps=3, warmup=1, dtype='bfloat16') if opts.tiny else \
        dict(batch_size=32, img=224, steps=8, warmup=3, dtype=None)
    for key, value in defaults.items():
        if getattr(opts, key) is None:
            setattr(opts, key, value)
    if opts.steps < 2:
        raise SystemExit('--steps must be at least 2 (epoch 0, then epoch 1 with a full queue)')
    device_name = torch.cuda.get_device_name(0) if device.type == 'cuda' else 'CPU'
    work_dir = opts.work_dir or tempfile.mkdtemp(prefix='s3pt_gpu_check_')
    os.makedirs(work_dir, exist_ok=True)

    rows = []
    frames = []

    def frame():
        """The benchmark frame (900x1600 JPEG and depth PNG), written once under the work folder."""
        if not frames:
            from pipeline import write_frame
            frames.append(write_frame(work_dir))
        return frames[0]

    _row('mmcv', 'compiled ops', lambda: mmcv_row(device), rows)
    if 'pretrain' not in opts.skip:
        for config in opts.configs or pretrain_configs(opts.table1):
            _row('pretrain', config.replace('configs/pretrain/', ''),
                 lambda: run_pretrain(config, opts, device, frame), rows)
            if device.type == 'cuda':
                torch.cuda.empty_cache()
    if 'ddp' not in opts.skip:
        if opts.tiny or torch.cuda.device_count() >= 2:
            _row('ddp', TARGET_CONFIG, lambda: run_ddp(opts), rows)
        else:
            rows.append(dict(check='ddp', name=TARGET_CONFIG, passed=True, skipped=True, seconds=0.0,
                             note=f'skipped: {torch.cuda.device_count()} GPU(s), 2 needed'))
    downstream = [k for k in ('segmenter', 'petr') if k not in opts.skip]
    if downstream:
        data = []
        prepared = _row('data', 'synthetic nuScenes + nuImages',
                        lambda: dict(note=str(data.append(make_downstream_data(work_dir, opts.tiny)) or work_dir)),
                        rows)
        for kind in downstream:
            if prepared['passed']:
                _row(kind, SEGMENTER if kind == 'segmenter' else PETR,
                     lambda: run_downstream(kind, opts, data[0], osp.join(work_dir, kind), device), rows)

    table = format_table(rows, opts, device_name)
    print(table)
    if opts.json:
        report = dict(device=device_name, tiny=opts.tiny, batch_size=opts.batch_size, img=opts.img,
                      steps=opts.steps, target_images_per_s=TARGET_IMAGES_PER_S, rows=rows,
                      all_passed=all(r['passed'] for r in rows))
        text = json.dumps(report, indent=2)
        if opts.json == '-':
            print(text)
        else:
            with open(opts.json, 'w') as f:
                f.write(text + '\n')
    return 0 if all(r['passed'] for r in rows) else 1


if __name__ == '__main__':
    sys.exit(main())
