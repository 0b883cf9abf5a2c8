"""Learning-rate sweep of the segmentation protocol (paper A.2.1): train a config with each learning rate of
{8e-4, 3e-4, 8e-5} and report the best final mIoU.

    python tools/seg_lr_sweep.py CONFIG --work-dir DIR --checkpoint PRETRAINING_CKPT
        [--which teacher|student] [--lrs 8e-4 3e-4 8e-5] [--gpus N] [--auto-scale-lr] [--dry-run]
        [--cfg-options k=v ...]

Each learning rate trains with tools/train.py in its own folder, DIR/lr_8e-04, DIR/lr_3e-04, ... one after
the other (with --gpus N > 1 through torchrun and --launcher pytorch). The learning rates are those of the
config's total batch, ``auto_scale_lr.base_batch_size`` (8 for the 8xb1 configs): --gpus defaults to
base_batch_size / train_dataloader.batch_size, and a --gpus that gives another total batch is refused unless
--auto-scale-lr, which scales each learning rate linearly to the batch actually used (tools/train.py
--auto-scale-lr). The sweep resumes: a finished run
(DIR/lr_*/sweep_run.json) is skipped, an interrupted one continues from its last checkpoint. At the end
DIR/sweep.json and DIR/sweep.md hold the final evaluation of every run and the best learning rate, and
DIR/per_class_iou.{md,csv,png} compare the runs class by class; all written atomically.
"""
import argparse
import os
import os.path as osp
import subprocess
import sys

from mmengine.config import Config, DictAction

from s3pt_mm.seg.results import SWEEP_SUMMARY, final_metrics, write_report
from s3pt_mm.utils.fileio import write_json_atomic, write_text_atomic

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

PAPER_LRS = (8e-4, 3e-4, 8e-5)
RUN_DONE = 'sweep_run.json'


def run_name(lr: float) -> str:
    """Folder of one learning rate: ``8e-4`` -> ``lr_8e-04``."""
    return f'lr_{lr:.0e}'


def train_command(args, lr: float, run_dir: str) -> list:
    """The tools/train.py command line of one run (torchrun with --gpus > 1)."""
    options = list(args.cfg_options or [])
    if args.checkpoint:
        options.append(f'model.backbone.checkpoint={args.checkpoint}')
    options += [f'model.backbone.which={args.which}', f'optim_wrapper.optimizer.lr={lr!r}']
    train = [osp.join(ROOT, 'tools', 'train.py'), args.config, '--work-dir', run_dir]
    if osp.isfile(osp.join(run_dir, 'last_checkpoint')):
        train.append('--resume')
    if args.auto_scale_lr:
        train.append('--auto-scale-lr')
    train += ['--cfg-options', *options]
    if args.gpus > 1:
        return [sys.executable, '-m', 'torch.distributed.run', f'--nproc_per_node={args.gpus}',
                f'--master_port={os.environ.get("PORT", 29500)}', *train, '--launcher', 'pytorch']
    return [sys.executable, *train]


def resolve_gpus(args) -> int:
    """The GPUs per run: the config's total batch unless --gpus says otherwise (then --auto-scale-lr is needed).

    Raises:
        SystemExit: the config has no ``auto_scale_lr.base_batch_size``, or --gpus gives a total batch other
            than it without --auto-scale-lr.
    """
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        options = argparse.Namespace()
        DictAction(option_strings=[], dest='options')(None, options, args.cfg_options)
        cfg.merge_from_dict(options.options)
    base = cfg.get('auto_scale_lr', {}).get('base_batch_size')
    per_gpu = cfg.train_dataloader.batch_size
    if base is None:
        raise SystemExit(f'{args.config}: no auto_scale_lr.base_batch_size, the total batch its learning '
                         f'rate is meant for')
    gpus = args.gpus if args.gpus is not None else max(base // per_gpu, 1)
    if gpus * per_gpu != base:
        message = (f'{args.config}: {gpus} GPU(s) x train_dataloader.batch_size {per_gpu} = batch '
                   f'{gpus * per_gpu}, but the learning rates are for auto_scale_lr.base_batch_size {base}')
        if not args.auto_scale_lr:
            raise SystemExit(f'{message}; use --gpus {base // per_gpu} or add --auto-scale-lr to scale them')
        print(f'[sweep] warning: {message}; --auto-scale-lr scales each rate by {gpus * per_gpu}/{base}',
              flush=True)
    return gpus


def run_one(args, lr: float) -> dict:
    """Train one learning rate unless it has finished before; its summary entry."""
    run_dir = osp.join(args.work_dir, run_name(lr))
    done = osp.join(run_dir, RUN_DONE)
    entry = dict(lr=lr, work_dir=run_dir)
    if osp.isfile(done):
        print(f'[sweep] lr={lr:g}: finished before, skipped ({done})', flush=True)
        return dict(entry, status='done', metrics=final_metrics(run_dir))
    command = train_command(args, lr, run_dir)
    print(f'[sweep] lr={lr:g}: {" ".join(command)}', flush=True)
    if args.dry_run:
        return dict(entry, status='dry-run')
    returncode = subprocess.call(command)
    if returncode != 0:
        print(f'[sweep] lr={lr:g}: training failed (exit code {returncode}); rerun the sweep to resume it',
              flush=True)
        return dict(entry, status='failed', returncode=returncode)
    metrics = final_metrics(run_dir)
    write_json_atomic(done, dict(lr=lr, metrics=metrics))
    return dict(entry, status='done', metrics=metrics)


def summary_markdown(config: str, runs: dict, best) -> str:
    lines = [f'## Learning-rate sweep: {osp.basename(config)}', '',
             '| learning rate | mIoU | mAcc | aAcc | status |', '|---|---:|---:|---:|---|']
    for key, run in runs.items():
        m = run.get('metrics', {})
        cells = [f'{m[k]:.2f}' if k in m else '-' for k in ('mIoU', 'mAcc', 'aAcc')]
        lr = f'**{run["lr"]:g}** (best)' if key == best else f'{run["lr"]:g}'
        lines.append(f'| {lr} | ' + ' | '.join(cells) + f' | {run["status"]} |')
    return '\n'.join(lines) + '\n'


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='segmentation config (configs/segmentation/...)')
    parser.add_argument('--work-dir', required=True, help='sweep folder; one sub-folder per learning rate')
    parser.add_argument('--checkpoint', help='pre-training checkpoint (model.backbone.checkpoint)')
    parser.add_argument('--which', choices=['teacher', 'student'], default='teacher',
                        help='backbone of the pre-training checkpoint (default: the EMA teacher)')
    parser.add_argument('--lrs', type=float, nargs='+', default=list(PAPER_LRS),
                        help='learning rates (default: the paper\'s 8e-4 3e-4 8e-5)')
    parser.add_argument('--gpus', type=int,
                        help='GPUs per run (torchrun, --launcher pytorch); default: the config\'s '
                        'auto_scale_lr.base_batch_size / train_dataloader.batch_size')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='allow a total batch other than the config\'s, scaling the rates linearly')
    parser.add_argument('--dry-run', action='store_true', help='print the commands, train nothing')
    parser.add_argument('--cfg-options', nargs='+', help='passed on to tools/train.py')
    args = parser.parse_args(argv)
    args.gpus = resolve_gpus(args)

    runs = {run_name(lr): run_one(args, lr) for lr in args.lrs}
    if args.dry_run:
        return 0
    finished = {k: r for k, r in runs.items() if r['status'] == 'done'}
    best = max(finished, key=lambda k: finished[k]['metrics']['mIoU']) if finished else None
    write_json_atomic(osp.join(args.work_dir, SWEEP_SUMMARY),
                      dict(config=args.config, checkpoint=args.checkpoint, which=args.which, runs=runs,
                           best=best))
    write_text_atomic(osp.join(args.work_dir, 'sweep.md'), summary_markdown(args.config, runs, best))
    if finished:
        write_report([(f'lr {r["lr"]:g}', r['metrics']) for r in finished.values()], args.work_dir,
                     title=f'{osp.basename(args.config)}: learning rates')
    if best is not None:
        print(f'[sweep] best: lr={runs[best]["lr"]:g}, mIoU {runs[best]["metrics"]["mIoU"]:.2f} '
              f'({runs[best]["work_dir"]}); summary in {osp.join(args.work_dir, "sweep.md")}')
    failed = [k for k, r in runs.items() if r['status'] != 'done']
    if failed:
        print(f'[sweep] not finished: {", ".join(failed)}')
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
