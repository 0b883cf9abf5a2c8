"""Seeded proxy experiment on synthetic data: pre-train each method with several seeds, linear-probe every
frozen backbone (and a random-init floor built with the same seed), report mean ± std over seeds.

    python tools/proxy_experiment.py --data DATA --out OUT
        [--methods random dino cribo s3pt]   # also the Table 1 ladder: cribo cribo_vmf cribo_vmf_many1it s3pt
        [--seeds 0 1 2] [--pretrain-epochs 40] [--seg-iters 600] [--patch-size 16] [--workers 2] [--token-probe]

DATA is a synthetic data root with the outputs of tools/demo.py steps 1-3 (DATA/nuscenes with
tools/create_data.py's infos and depth maps, DATA/nuimages with semantic labels), e.g. one made by
`python tools/demo.py --data DATA`. For each seed s (``randomness.seed=s`` in pre-training and probe):
OUT/seed<s>/pretrain_<method>, OUT/seed<s>/random_init.pth, OUT/seed<s>/linear_<method>. Finished runs
are kept (run the command again to resume; a pre-training continues from its checkpoint of every 10
epochs). Outputs: OUT/results.md (mean ± std of mIoU and per-class
IoU, the seeds' mIoU, each method's difference to the floor of the same seed, the run time),
OUT/results.json, OUT/results.csv, OUT/results.png. ``--token-probe`` also measures every frozen backbone
without the Segmenter head (k-NN and logistic regression on its tokens, and logistic regression on its
tokens and their grid position; about 20 s each; tools/token_probe.py)
and adds that table (OUT/seed<s>/tokens_<method>.json).
"""
import argparse
import os.path as osp

from s3pt_mm.evaluation.experiment import PRETRAIN_CONFIGS, Progress, run_seeds, write_report


def main(argv=None):
    parser = argparse.ArgumentParser(description='seeded proxy experiment on synthetic data')
    parser.add_argument('--data', required=True, help='synthetic root with nuscenes/ and nuimages/ prepared')
    parser.add_argument('--out', required=True)
    parser.add_argument('--methods', nargs='+', choices=['random', *PRETRAIN_CONFIGS],
                        default=['random', 'dino', 'cribo', 's3pt'])
    parser.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    parser.add_argument('--pretrain-epochs', type=int, default=40)
    parser.add_argument('--seg-iters', type=int, default=600)
    parser.add_argument('--patch-size', type=int, default=None, help="the ViT's patch (default: configs' 16)")
    parser.add_argument('--workers', type=int, default=2, help='data loading processes per run')
    parser.add_argument('--token-probe', action='store_true',
                        help='also k-NN / logistic regression on the frozen tokens, alone and with their '
                        'position (probe-independent)')
    args = parser.parse_args(argv)
    if args.pretrain_epochs < 3:
        parser.error('--pretrain-epochs must be at least 3 (2 warm-up epochs, then the cosine schedule)')
    progress = Progress(len(args.seeds) + 1, 'proxy')
    per_seed = run_seeds(args.methods, args.seeds, args.data, args.out, args.pretrain_epochs, args.seg_iters,
                         args.workers, progress, args.patch_size, tokens=args.token_probe)
    progress.step('results')
    setup = (f'{args.pretrain_epochs} pre-training epochs, {args.seg_iters} probe iterations, patch '
             f'{args.patch_size or 16}, data {args.data}')
    print(write_report(args.out, setup, args.methods, per_seed, progress.elapsed(),
                       osp.join(args.data, 'nuimages')))
    print(f'proxy experiment finished in {progress.elapsed():.0f} s')


if __name__ == '__main__':
    main()
