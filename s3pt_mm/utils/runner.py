"""The mmengine Runner of ``tools/train.py`` and ``tools/test.py``, for every stage (pre-training, mmseg,
mmdet3d): the command-line options both tools share and the building of the runner. Imports neither the
pre-training models nor a downstream task; the config's ``custom_imports`` choose them."""
import argparse
import os
import os.path as osp
from typing import Optional

from mmengine.config import Config, DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from .compat import apply_compat_patches

__all__ = ['add_runner_args', 'apply_runner_args', 'build_runner', 'mmcv_ops_flavour', 'cuda_ops_problem',
           'check_mmcv_cuda_ops']


def add_runner_args(parser: argparse.ArgumentParser) -> None:
    """Add the options of both tools: the config, ``--work-dir``, ``--cfg-options``, ``--launcher`` and
    ``--local-rank``."""
    parser.add_argument('config', help='config file path')
    parser.add_argument('--work-dir', help='directory for logs and checkpoints '
                        '(default: ./work_dirs/<config name>)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config entries, e.g. --cfg-options train_dataloader.batch_size=8')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
                        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def apply_runner_args(cfg: Config, args: argparse.Namespace) -> Config:
    """Fold the options of :func:`add_runner_args` into ``cfg``: launcher, ``--cfg-options`` and the work
    dir (the config's, else ``./work_dirs/<config name>``, unless ``--work-dir``). Sets ``LOCAL_RANK``
    from ``--local-rank`` for launchers that pass it as an argument."""
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    return cfg


def build_runner(cfg: Config) -> Runner:
    """The config's ``runner_type`` from the RUNNERS registry, or mmengine's Runner, with the checkpoint
    loading fixes of :mod:`s3pt_mm.utils.compat` applied first (resume and ``load_from`` work under
    torch >= 2.6 whatever the config imports)."""
    apply_compat_patches()
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)


def mmcv_ops_flavour() -> str:
    """What mmcv's compiled ops (``mmcv._ext``) were built for: ``'cuda<version>'`` (CPU and CUDA kernels,
    e.g. ``'cuda13.0'``), ``'cpu'`` (CPU kernels only: mmcv built without CUDA) or ``'missing'`` (no compiled
    ops at all, or without the focal loss kernel that mmdet's FocalLoss calls)."""
    try:
        from mmcv.ops import get_compiling_cuda_version
        from mmcv.utils import ext_loader
        ext_loader.load_ext('_ext', ['sigmoid_focal_loss_forward'])
        version = get_compiling_cuda_version()
    except (ImportError, AssertionError, AttributeError):
        return 'missing'
    return 'cpu' if version in ('not available', '', None) else f'cuda{version}'


def cuda_ops_problem(flavour: str, cuda_available: bool) -> Optional[str]:
    """Why a training run cannot start with mmcv ops of ``flavour`` (:func:`mmcv_ops_flavour`), or None.

    Only a run on CUDA needs CUDA ops: mmdet's FocalLoss (PETR's classification loss) calls the compiled
    ``sigmoid_focal_loss`` on CUDA tensors, which an mmcv built without CUDA does not have, so PETR would stop
    at its first loss; the pre-training and Segmenter models would run, but the environment is not the one
    ``tools/setup_env.sh`` builds for a GPU node."""
    if not cuda_available or flavour.startswith('cuda'):
        return None
    what = 'without CUDA ops (CPU kernels only)' if flavour == 'cpu' else 'without its compiled ops'
    return (f'This machine has a CUDA GPU, but the installed mmcv was built {what}: mmdet\'s FocalLoss (PETR) '
            'and the other mmcv ops fail on CUDA tensors. Rebuild the environment on this GPU node with '
            '`S3PT_FORCE_SETUP=1 bash tools/setup_env.sh` (needs nvcc matching torch\'s CUDA; it builds and caches '
            'mmcv with CUDA ops for this GPU), or run on the CPU with CUDA_VISIBLE_DEVICES="". '
            'See docs/faq.md and docs/gpu_check.md.')


def check_mmcv_cuda_ops() -> None:
    """Stop (``SystemExit`` with :func:`cuda_ops_problem`'s message) when a run would use CUDA and mmcv has no
    CUDA ops; nothing on a machine without a usable GPU."""
    import torch
    if not torch.cuda.is_available():
        return
    problem = cuda_ops_problem(mmcv_ops_flavour(), True)
    if problem:
        raise SystemExit(problem)
