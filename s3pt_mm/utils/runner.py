"""The mmengine Runner of ``tools/train.py`` and ``tools/test.py``, for every stage (pre-training, mmseg,
mmdet3d): the command-line options both tools share and the building of the runner. Imports neither the
pre-training models nor a downstream task; the config's ``custom_imports`` choose them."""
import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from .compat import apply_compat_patches

__all__ = ['add_runner_args', 'apply_runner_args', 'build_runner']


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
