"""The whole method on built-in synthetic driving data (called by tools/demo.sh).

    python tools/demo.py [--methods s3pt dino cribo] [--out work_dirs/demo] [--data data/demo]
                         [--pretrain-epochs 40] [--seg-iters 600] [--scenes 10] [--samples-per-scene 4]
                         [--seeds 0 1 2] [--workers 2]

Steps (each prints its progress; a finished step or run is skipped when the command is run again):
  1. synthetic nuScenes + nuImages data (tools/make_synthetic_data.py)
  2. camera infos + IP-Basic depth maps from the LiDAR (tools/create_data.py nuscenes)
  3. nuImages semantic labels (tools/dataset_converters/nuimages_seg.py)
  4. one step per seed (s3pt_mm.utils.experiment.run_seeds, into <out>/seed<s>/): pre-training of each
     method (tools/train.py configs/demo/<method>_vit-demo_synthetic.py, randomness.seed=s), then linear
     probing of each frozen backbone and of a randomly initialised one (seed s) as the floor
     (tools/train.py configs/demo/segmenter-linear_vit-demo_synthetic-nuimages.py)
  5. the comparison table (mIoU and per-class IoU, mean ± std over the seeds), printed and written to
     <out>/results.md (also .json, .csv and a bar chart results.png)
  6. pictures in <out>/pictures (tools/visualize.py) from the first seed: the teachers' spatial clusters
     with CrIBo's and S3PT's clustering settings (Figure 1), LiDAR depth before / after IP-Basic, and the
     linear probes' predictions next to the ground truth (Figure 6)
"""
import argparse
import os.path as osp

from s3pt_mm.utils.experiment import NAMES, ROOT, Progress, run_seeds, run_tool, write_report


def main(argv=None):
    parser = argparse.ArgumentParser(description='s3pt_mm demo on synthetic data')
    parser.add_argument('--methods', nargs='+', choices=['s3pt', 'dino', 'cribo'], default=['s3pt'])
    parser.add_argument('--data', default=osp.join(ROOT, 'data', 'demo'))
    parser.add_argument('--out', default=osp.join(ROOT, 'work_dirs', 'demo'))
    parser.add_argument('--scenes', type=int, default=10)
    parser.add_argument('--samples-per-scene', type=int, default=4)
    parser.add_argument('--pretrain-epochs', type=int, default=40)
    parser.add_argument('--seg-iters', type=int, default=600)
    parser.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2],
                        help='pre-training and probing seeds (the table gives mean ± std over them)')
    parser.add_argument('--workers', type=int, default=2, help='data loading / conversion processes')
    args = parser.parse_args(argv)
    if args.pretrain_epochs < 3:
        parser.error('--pretrain-epochs must be at least 3 (2 warm-up epochs, then the cosine schedule)')
    progress = Progress(5 + len(args.seeds), 'demo')
    nuscenes, nuimages = osp.join(args.data, 'nuscenes'), osp.join(args.data, 'nuimages')

    progress.step(f'synthetic driving data ({args.scenes} scenes x {args.samples_per_scene} samples x 6 '
                  f'cameras) -> {args.data}')
    if osp.isfile(osp.join(args.data, 'synthetic_config.json')):
        print('already there')
    else:
        run_tool('tools/make_synthetic_data.py', args.data, '--scenes', str(args.scenes),
                 '--samples-per-scene', str(args.samples_per_scene))

    progress.step('LiDAR -> camera depth maps completed with IP-Basic, pre-training infos')
    run_tool('tools/create_data.py', 'nuscenes', '--root-path', nuscenes, '--version', 'v1.0-mini',
             '--workers', str(args.workers))

    progress.step('nuImages semantic segmentation labels')
    run_tool('tools/dataset_converters/nuimages_seg.py', nuimages, '--workers', str(args.workers))

    methods = ['random', *args.methods]
    per_seed = run_seeds(methods, args.seeds, args.data, args.out, args.pretrain_epochs, args.seg_iters,
                         args.workers, progress)
    progress.step('results')
    setup = f'{args.pretrain_epochs} pre-training epochs, {args.seg_iters} probe iterations, data {args.data}'
    print('\n' + write_report(args.out, setup, methods, per_seed, progress.elapsed(), nuimages))

    progress.step('pictures')
    pictures, first = osp.join(args.out, 'pictures'), per_seed[0]
    run_tool('tools/visualize.py', 'depth', '--data-root', nuscenes, '--index', '0',
             '--out', osp.join(pictures, 'depth_completion.png'))
    run_tool('tools/visualize.py', 'clusters', '--data-root', nuscenes, '--index', '0', '--height', '192',
             *[f'--checkpoint={NAMES[name]}={path}' for name, path in first['checkpoints'].items()],
             '--out', osp.join(pictures, 'spatial_clusters.png'))
    run_tool('tools/visualize.py', 'seg', '--data-root', nuimages, '--index', '0', '1', '2',
             *[f'--model={NAMES[name]}={work_dir}' for name, work_dir in first['probes'].items()],
             '--out', osp.join(pictures, 'segmentation.png'))
    print(f'written to {pictures}/ (seed {first["seed"]}): depth_completion.png, spatial_clusters.png, '
          'segmentation.png')
    print(f'\ndemo finished in {progress.elapsed():.0f} s')


if __name__ == '__main__':
    main()
