"""tools/proxy_experiment.py at a tiny size on the session's synthetic data: 2 seeds of the random-init floor
and DINO; the table, JSON and CSV hold the mIoU each probe logged (read here from mmengine's scalars.json),
aggregated as mean ± sample std, and DINO's per-seed difference to the floor; the token probe's figures are
those of s3pt_mm.evaluation.frozen_tokens run on the same checkpoint; every seed has its own floor; a second
run reuses every finished run."""
import csv
import json
import math
import os
import statistics

import cv2
import numpy as np
import pytest
import torch

from tests.helpers import run_tool

pytestmark = pytest.mark.slow

SEEDS = (0, 1)


@pytest.fixture(scope='module')
def data_root(pretrain_data_root, synthetic_data_root, tmp_path_factory):
    """A data root as tools/demo.py steps 1-3 leave it: nuscenes/ with infos and depth, nuimages/ with labels."""
    import shutil
    root = tmp_path_factory.mktemp('proxy_data')
    os.symlink(pretrain_data_root, root / 'nuscenes')
    shutil.copytree(synthetic_data_root / 'nuimages', root / 'nuimages')
    run_tool('tools/dataset_converters/nuimages_seg.py', str(root / 'nuimages'), '--workers', '0')
    return root


def _logged_miou(work_dir):
    """The mIoU of the last evaluation in the run's own log (<work_dir>/<timestamp>/vis_data/scalars.json)."""
    logs = sorted(work_dir.glob('*/vis_data/scalars.json'))
    records = [json.loads(line) for line in logs[-1].read_text().splitlines()]
    return [r for r in records if 'mIoU' in r][-1]['mIoU']


def test_proxy_experiment_tables_equal_the_logged_runs(data_root, tmp_path):
    out = tmp_path / 'out'
    args = ['tools/proxy_experiment.py', '--data', str(data_root), '--out', str(out), '--methods', 'random', 'dino',
            '--seeds', *map(str, SEEDS), '--pretrain-epochs', '3', '--seg-iters', '4', '--workers', '0',
            '--token-probe']
    first = run_tool(*args)
    logged = {name: [_logged_miou(out / f'seed{s}' / f'linear_{method}') for s in SEEDS]
              for name, method in (('random init', 'random'), ('DINO', 'dino'))}

    report = (out / 'results.md').read_text()
    rows = {cells[0].strip(): [c.strip() for c in cells[1:]] for cells in
            (line.split('|')[1:-1] for line in report.split('Difference to the random-init floor')[0].splitlines()
             if line.startswith('| ') and not line.startswith('| backbone'))}
    saved = json.loads((out / 'results.json').read_text())
    with open(out / 'results.csv') as f:
        table = {row['backbone']: row for row in csv.DictReader(f)}
    for name, values in logged.items():
        mean, std = statistics.mean(values), statistics.stdev(values)
        assert rows[name][0] == str(len(SEEDS))
        assert rows[name][1] == f'{mean:.2f} ± {std:.2f}'
        assert [run['mIoU'] for run in saved['runs'][name]] == values
        assert math.isclose(float(table[name]['mIoU_mean']), mean, abs_tol=1e-4)
        assert math.isclose(float(table[name]['mIoU_std']), std, abs_tol=1e-4)
        assert 'mIoU per seed' in first.stdout and ' / '.join(f'{v:.2f}' for v in values) in first.stdout
    # the mean over the classes present in the val labels (read here from the label PNGs), from each run's IoUs
    from s3pt_mm.seg.classes import NUIMAGES_SEG_CLASSES
    nuimages = data_root / 'nuimages'
    ids = set()
    for name in (nuimages / 'semantic_splits' / 'val.txt').read_text().split():
        ids |= set(np.unique(cv2.imread(str(nuimages / 'semantic_labels' / f'{name}.png'), cv2.IMREAD_UNCHANGED)))
    present = [c for i, c in enumerate(NUIMAGES_SEG_CLASSES) if i in ids]
    assert saved['val_classes'] == present and len(present) < len(NUIMAGES_SEG_CLASSES)
    for name in logged:
        values = [statistics.mean(run['per_class'][c] for c in present) for run in saved['runs'][name]]
        assert rows[name][2] == f'{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}'
    differences = [dino - floor for dino, floor in zip(logged['DINO'], logged['random init'])]
    assert ('| DINO | ' + ' / '.join(f'{v:+.2f}' for v in differences) +
            f' | {statistics.mean(differences):.2f} ± {statistics.stdev(differences):.2f} |') in report
    assert [round(v, 9) for v in saved['differences'][0]['runs']] == [round(v, 9) for v in differences]

    # the token probe: the figures of the module run directly on seed 0's floor, in the JSON and the table
    from s3pt_mm.evaluation.frozen_tokens import load_split, probe_tokens
    nuimages = str(nuimages)
    direct, _ = probe_tokens(str(out / 'seed0' / 'random_init.pth'), load_split(nuimages, 'train', (192, 96)),
                          load_split(nuimages, 'val', (192, 96)), 16, len(NUIMAGES_SEG_CLASSES))
    kept = saved['runs']['random init'][0]['tokens']
    for clf in ('k-NN', 'logistic', 'logistic + position'):
        assert math.isclose(kept[clf]['accuracy'], direct[clf]['accuracy'], abs_tol=1e-9)
        assert math.isclose(kept[clf]['miou'], direct[clf]['miou'], abs_tol=1e-9)
    knn = [saved['runs']['random init'][i]['tokens']['k-NN']['accuracy'] for i in range(len(SEEDS))]
    assert f'| random init | 2 | {statistics.mean(knn):.2f} ± {statistics.stdev(knn):.2f} |' in report
    assert (out / 'seed1' / 'tokens_dino.json').is_file()

    picture = cv2.imread(str(out / 'results.png'))
    assert picture is not None and picture.std() > 10
    # each seed has its own floor, and pre-trains with its own seed
    floors = [torch.load(out / f'seed{s}' / 'random_init.pth', weights_only=True)['state_dict'] for s in SEEDS]
    key = 'backbone.patch_embed.projection.weight'
    assert not torch.equal(floors[0][key], floors[1][key])
    assert '-- DINO (seed 1) ->' in first.stdout

    second = run_tool(*args)
    assert '-- ' not in second.stdout  # every run reused
    assert json.loads((out / 'results.json').read_text())['runs'] == saved['runs']


def test_an_interrupted_pretraining_resumes_from_its_last_periodic_checkpoint(
        pretrain_data_root, tmp_path, monkeypatch, capfd):
    """A killed pre-training leaves the checkpoint of its last multiple of PRETRAIN_CHECKPOINT_EVERY epochs;
    running it again continues from there (not from epoch 1) and keeps only the final checkpoint."""
    from s3pt_mm.evaluation import experiment
    from s3pt_mm.utils.compat import load_trusted_checkpoint
    monkeypatch.setattr(experiment, 'PRETRAIN_CHECKPOINT_EVERY', 2)
    run = experiment.run_tool
    # the first attempt stops after epoch 2 of 3 as a job killed during epoch 3 would: without the final
    # checkpoint that mmengine saves at the end of a run
    stop_after_epoch_2 = ('train_cfg.max_epochs=2', 'default_hooks.checkpoint.save_last=False')
    monkeypatch.setattr(experiment, 'run_tool', lambda *args: run(*args, *stop_after_epoch_2))
    work_dir = tmp_path / 'pretrain_dino'
    final = experiment.pretrain('dino', str(pretrain_data_root), str(work_dir), 3, 0, seed=0)
    assert not os.path.isfile(final)
    iters_at_2 = load_trusted_checkpoint(work_dir / 'epoch_2.pth', map_location='cpu')['meta']['iter']

    monkeypatch.setattr(experiment, 'run_tool', run)
    capfd.readouterr()
    assert experiment.pretrain('dino', str(pretrain_data_root), str(work_dir), 3, 0, seed=0) == final
    captured = capfd.readouterr()
    assert f'resumed epoch: 2, iter: {iters_at_2}' in captured.out + captured.err
    assert sorted(p.name for p in work_dir.glob('*.pth')) == ['epoch_3.pth']
    meta = load_trusted_checkpoint(final, map_location='cpu')['meta']
    assert meta['epoch'] == 3 and meta['iter'] == iters_at_2 * 3 // 2
