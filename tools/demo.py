"""The whole method on built-in synthetic driving data (called by tools/demo.sh).

    python tools/demo.py [--methods s3pt dino cribo] [--out work_dirs/demo] [--data data/demo]
                         [--pretrain-epochs 40] [--seg-iters 600] [--scenes 10] [--samples-per-scene 8]
                         [--seeds 0 1 2] [--workers 2]

Steps (each prints its progress; a finished step or run is skipped when the command is run again, and a
--data or --out made with other settings is refused rather than reused):
  1. synthetic nuScenes + nuImages data (tools/make_synthetic_data.py)
  2. camera infos + IP-Basic depth maps from the LiDAR (tools/create_data.py nuscenes)
  3. nuImages semantic labels (tools/dataset_converters/nuimages_seg.py)
  4. one step per seed (s3pt_mm.evaluation.experiment.run_seeds, into <out>/seed<s>/): pre-training of each
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
import glob
import json
import os.path as osp

from s3pt_mm.synthetic.generate import CONFIG_FILE, load_config
from s3pt_mm.evaluation.experiment import NAMES, ROOT, Progress, run_seeds, run_tool, write_report
from s3pt_mm.utils.fileio import write_json_atomic


def _check_reuse(parser, args):
    """Stop before a finished step is reused with other settings: data made with another size under
    ``--data`` (an older default, say), or runs in ``--out`` made on other data. The first run records its
    data in ``<out>/demo_data.json``."""
    wanted = dict(num_scenes=args.scenes, samples_per_scene=args.samples_per_scene)
    config_file = osp.join(args.data, CONFIG_FILE)
    if osp.isfile(config_file):
        config = load_config(args.data)
        found = {key: getattr(config, key) for key in wanted}
        if found != wanted:
            parser.error(f'{config_file}: the data there was made with {found}, not the {wanted} asked for; '
                         f'give another --data and --out, or remove {args.data} and {args.out}')
    record_file = osp.join(args.out, 'demo_data.json')
    record = dict(data=osp.abspath(args.data), **wanted)
    if osp.isfile(record_file):
        with open(record_file) as f:
            recorded = json.load(f)
        if recorded != record:
            parser.error(f'{record_file}: the runs in {args.out} were made on {recorded}, not on {record}; '
                         'give another --out, or remove it')
    elif glob.glob(osp.join(args.out, 'seed*')):
        parser.error(f'{args.out} holds runs but no {osp.basename(record_file)} that says what data they '
                     'were made on (a demo from before it was written); give another --out, or remove it')
    else:
        write_json_atomic(record_file, record)


def main(argv=None):
    parser = argparse.ArgumentParser(description='s3pt_mm demo on synthetic data')
    parser.add_argument('--methods', nargs='+', choices=['s3pt', 'dino', 'cribo'], default=['s3pt'])
    parser.add_argument('--data', default=osp.join(ROOT, 'data', 'demo'))
    parser.add_argument('--out', default=osp.join(ROOT, 'work_dirs', 'demo'))
    parser.add_argument('--scenes', type=int, default=10)
    parser.add_argument('--samples-per-scene', type=int, default=8)
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

    _check_reuse(parser, args)
    progress.step(f'synthetic driving data ({args.scenes} scenes x {args.samples_per_scene} samples x 6 '
                  f'cameras) -> {args.data}')
    if osp.isfile(osp.join(args.data, CONFIG_FILE)):
        print('already there')
    else:
        run_tool('tools/make_synthetic_data.py', args.data, '--scenes', str(args.scenes),
                 '--samples-per-scene', str(args.samples_per_scene))

    progress.step('LiDAR -> camera depth maps completed with IP-Basic, pre-training infos')
    run_tool('tools/create_data.py', 'nuscenes', '--root-path', nuscenes, '--version',
             load_config(args.data).nuscenes_version,
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
