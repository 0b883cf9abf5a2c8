"""tools/proxy_experiment.py at a tiny size on the session's synthetic data: 2 seeds of the random-init floor
and DINO; the table, JSON and CSV hold the mIoU each probe logged (read here from mmengine's scalars.json),
aggregated as mean ± sample std; every seed has its own floor; a second run reuses every finished run."""
import csv
import json
import math
import os
import statistics

import cv2
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
            '--seeds', *map(str, SEEDS), '--pretrain-epochs', '3', '--seg-iters', '4', '--workers', '0']
    first = run_tool(*args)
    logged = {name: [_logged_miou(out / f'seed{s}' / f'linear_{method}') for s in SEEDS]
              for name, method in (('random init', 'random'), ('DINO', 'dino'))}

    rows = {cells[0].strip(): [c.strip() for c in cells[1:]] for cells in
            (line.split('|')[1:-1] for line in (out / 'results.md').read_text().splitlines()
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
