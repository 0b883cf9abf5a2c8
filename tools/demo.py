"""The whole method on built-in synthetic driving data (called by tools/demo.sh).

    python tools/demo.py [--methods s3pt dino cribo] [--out work_dirs/demo] [--data data/demo]
                         [--pretrain-epochs 40] [--seg-iters 600] [--scenes 10] [--samples-per-scene 4]
                         [--workers 2]

Steps (each prints its progress; a finished step is skipped when the command is run again):
  1. synthetic nuScenes + nuImages data (tools/make_synthetic_data.py)
  2. camera infos + IP-Basic depth maps from the LiDAR (tools/create_data.py nuscenes)
  3. nuImages semantic labels (tools/dataset_converters/nuimages_seg.py)
  4. pre-training of each method (tools/train.py configs/demo/<method>_vit-demo_synthetic.py)
  5. linear probing of each frozen backbone, and of a randomly initialised one as the floor
     (tools/train.py configs/demo/segmenter-linear_vit-demo_synthetic-nuimages.py)
  6. the comparison table (mIoU and per-class IoU), printed and written to <out>/results.md
  7. pictures in <out>/pictures (tools/visualize.py): the teachers' spatial clusters with CrIBo's and
     S3PT's clustering settings (Figure 1), LiDAR depth before / after IP-Basic, and the linear probes'
     predictions next to the ground truth (Figure 6)
"""
import argparse
import os
import os.path as osp
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
PRETRAIN_CONFIG = 'configs/demo/{}_vit-demo_synthetic.py'
SEG_CONFIG = 'configs/demo/segmenter-linear_vit-demo_synthetic-nuimages.py'
NAMES = dict(random='random init', dino='DINO', cribo='CrIBo', s3pt='S3PT')


class Progress:
    """Step headers with elapsed times."""

    def __init__(self, total):
        self.total, self.index, self.start = total, 0, time.time()

    def step(self, text):
        self.index += 1
        print(f'\n[demo {self.index}/{self.total}] ({time.time() - self.start:6.0f} s) {text}', flush=True)


def run(*args):
    """Run a project tool with this interpreter; stream its output; stop the demo if it fails."""
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''),
               PYTHONWARNINGS='ignore')
    result = subprocess.run([sys.executable, *args], cwd=ROOT, env=env)
    if result.returncode != 0:
        raise SystemExit(f'demo: `{" ".join(args)}` failed (exit {result.returncode}); fix the problem '
                         'above and run the demo again: finished steps are kept')


def random_init_checkpoint(path):
    """A pre-training checkpoint of the demo S3PT model right after initialisation (the floor)."""
    if osp.isfile(path):
        return path
    import torch
    from mmengine.config import Config
    from mmpretrain.registry import MODELS

    import s3pt_mm.models  # noqa: F401
    from s3pt_mm.utils.checkpoint import save_checkpoint_atomic
    torch.manual_seed(0)
    cfg = Config.fromfile(osp.join(ROOT, PRETRAIN_CONFIG.format('s3pt')))
    model = MODELS.build(cfg.model)
    model.init_weights()
    # the config in the meta, as an mmengine Runner stores it (tools/visualize.py builds the model from it)
    save_checkpoint_atomic(dict(meta=dict(cfg=cfg.pretty_text, note='random initialisation'),
                                state_dict=model.state_dict()), path)
    return path


def results_table(runs):
    """Markdown table: mIoU and per-class IoU of each backbone's linear probe."""
    from s3pt_mm.seg.results import final_metrics, per_class_iou
    rows = [(name, final_metrics(work_dir)) for name, work_dir in runs]
    classes = list(per_class_iou(rows[0][1]))
    header = '| backbone | mIoU | ' + ' | '.join(classes) + ' |'
    lines = [header, '|' + '---|' * (len(classes) + 2)]
    for name, metrics in rows:
        per_class = per_class_iou(metrics)
        cells = [f'{per_class[c]:.1f}' if per_class.get(c) == per_class.get(c) else '-' for c in classes]
        lines.append(f'| {name} | {metrics["mIoU"]:.2f} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description='s3pt_mm demo on synthetic data')
    parser.add_argument('--methods', nargs='+', choices=['s3pt', 'dino', 'cribo'], default=['s3pt'])
    parser.add_argument('--data', default=osp.join(ROOT, 'data', 'demo'))
    parser.add_argument('--out', default=osp.join(ROOT, 'work_dirs', 'demo'))
    parser.add_argument('--scenes', type=int, default=10)
    parser.add_argument('--samples-per-scene', type=int, default=4)
    parser.add_argument('--pretrain-epochs', type=int, default=40)
    parser.add_argument('--seg-iters', type=int, default=600)
    parser.add_argument('--workers', type=int, default=2, help='data loading / conversion processes')
    args = parser.parse_args(argv)
    if args.pretrain_epochs < 3:
        parser.error('--pretrain-epochs must be at least 3 (2 warm-up epochs, then the cosine schedule)')
    progress = Progress(7)
    nuscenes, nuimages = osp.join(args.data, 'nuscenes'), osp.join(args.data, 'nuimages')

    progress.step(f'synthetic driving data ({args.scenes} scenes x {args.samples_per_scene} samples x 6 '
                  f'cameras) -> {args.data}')
    if osp.isfile(osp.join(args.data, 'synthetic_config.json')):
        print('already there')
    else:
        run('tools/make_synthetic_data.py', args.data, '--scenes', str(args.scenes),
            '--samples-per-scene', str(args.samples_per_scene))

    progress.step('LiDAR -> camera depth maps completed with IP-Basic, pre-training infos')
    run('tools/create_data.py', 'nuscenes', '--root-path', nuscenes, '--version', 'v1.0-mini',
        '--workers', str(args.workers))

    progress.step('nuImages semantic segmentation labels')
    run('tools/dataset_converters/nuimages_seg.py', nuimages, '--workers', str(args.workers))

    checkpoints = [('random', random_init_checkpoint(osp.join(args.out, 'random_init.pth')))]
    progress.step(f'pre-training {", ".join(NAMES[m] for m in args.methods)} for {args.pretrain_epochs} '
                  'epochs each')
    for method in args.methods:
        work_dir = osp.join(args.out, f'pretrain_{method}')
        final = osp.join(work_dir, f'epoch_{args.pretrain_epochs}.pth')
        if not osp.isfile(final):
            print(f'-- {NAMES[method]} -> {work_dir}', flush=True)
            run('tools/train.py', PRETRAIN_CONFIG.format(method), '--work-dir', work_dir, '--resume',
                '--cfg-options', f'train_dataloader.dataset.data_root={nuscenes}/',
                f'train_cfg.max_epochs={args.pretrain_epochs}',
                # the schedules of configs/demo/_base_demo_pretrain.py, stretched to the epochs asked for
                f'param_scheduler.1.T_max={args.pretrain_epochs - 2}', f'param_scheduler.1.end={args.pretrain_epochs}',
                f'param_scheduler.2.T_max={args.pretrain_epochs}', f'param_scheduler.2.end={args.pretrain_epochs}',
                f'train_dataloader.num_workers={args.workers}',
                f'train_dataloader.persistent_workers={args.workers > 0}',
                f'default_hooks.checkpoint.interval={args.pretrain_epochs}')
        checkpoints.append((method, final))

    progress.step(f'linear probing of each frozen backbone on nuImages ({args.seg_iters} iterations)')
    runs = []
    for name, checkpoint in checkpoints:
        work_dir = osp.join(args.out, f'linear_{name}')
        if not osp.isfile(osp.join(work_dir, f'iter_{args.seg_iters}.pth')):
            print(f'-- {NAMES[name]} backbone -> {work_dir}', flush=True)
            run('tools/train.py', SEG_CONFIG, '--work-dir', work_dir, '--cfg-options',
                f'model.backbone.checkpoint={checkpoint}', f'train_dataloader.dataset.data_root={nuimages}/',
                f'val_dataloader.dataset.data_root={nuimages}/', f'train_cfg.max_iters={args.seg_iters}',
                f'train_cfg.val_interval={args.seg_iters}', f'default_hooks.checkpoint.interval={args.seg_iters}',
                f'param_scheduler.0.end={args.seg_iters}', f'train_dataloader.num_workers={args.workers}',
                f'val_dataloader.num_workers={args.workers}',
                f'train_dataloader.persistent_workers={args.workers > 0}',
                f'val_dataloader.persistent_workers={args.workers > 0}')
        runs.append((NAMES[name], work_dir))

    progress.step('results')
    table = results_table(runs)
    from s3pt_mm.utils.fileio import write_text_atomic
    write_text_atomic(osp.join(args.out, 'results.md'),
                      '# Linear probing on synthetic nuImages (frozen backbones)\n\n' + table + '\n')
    print('\nLinear probing, synthetic nuImages val (IoU %):\n' + table)
    print(f'written to {osp.join(args.out, "results.md")}')

    progress.step('pictures')
    pictures = osp.join(args.out, 'pictures')
    run('tools/visualize.py', 'depth', '--data-root', nuscenes, '--index', '0',
        '--out', osp.join(pictures, 'depth_completion.png'))
    run('tools/visualize.py', 'clusters', '--data-root', nuscenes, '--index', '0', '--height', '192',
        *[f'--checkpoint={NAMES[name]}={path}' for name, path in checkpoints],
        '--out', osp.join(pictures, 'spatial_clusters.png'))
    run('tools/visualize.py', 'seg', '--data-root', nuimages, '--index', '0', '1', '2',
        *[f'--model={name}={work_dir}' for name, work_dir in runs], '--out', osp.join(pictures, 'segmentation.png'))
    print(f'written to {pictures}/: depth_completion.png, spatial_clusters.png, segmentation.png')
    print(f'\ndemo finished in {time.time() - progress.start:.0f} s')


if __name__ == '__main__':
    main()
