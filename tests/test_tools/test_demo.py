"""tools/demo.py (what `bash tools/demo.sh` runs) end to end at a tiny size: every step, the comparison
table with the random-init floor (mean ± std over 2 seeds) and S3PT's per-seed difference to it, the
pictures, and a second run that reuses the finished steps."""
import re

import cv2
import numpy as np
import pytest

from tests.helpers import run_tool

from s3pt_mm.seg.classes import NUIMAGES_SEG_CLASSES

pytestmark = pytest.mark.slow


def _mean_std(cell):
    mean, _, std = cell.partition('±')
    return float(mean), float(std)


def _tables(markdown):
    """The markdown tables of ``markdown``, each a list of rows (lists of stripped cells), header first."""
    tables, current = [], None
    for line in markdown.splitlines():
        if line.startswith('|') and not line.startswith('|---'):
            if current is None:
                current = []
                tables.append(current)
            current.append([c.strip() for c in line.split('|')[1:-1]])
        elif not line.startswith('|---'):
            current = None
    return tables


def _table(markdown):
    """{backbone: (seeds, (mIoU mean, std), (mean, std) over the val classes, {class: mean IoU or None})} of
    the demo's results table (the first); checks its header."""
    rows = _tables(markdown)[0]
    header, body = rows[0], rows[1:]
    assert header[:3] == ['backbone', 'seeds', 'mIoU'] and header[4:] == list(NUIMAGES_SEG_CLASSES)
    assert re.fullmatch(r'mIoU \(\d+ val classes\)', header[3])
    table = {}
    for cells in body:
        per_class = [None if c.strip() == '-' else _mean_std(c)[0] for c in cells[4:]]
        table[cells[0].strip()] = (int(cells[1]), _mean_std(cells[2]), _mean_std(cells[3]),
                                   dict(zip(header[4:], per_class)))
    return table


def test_demo_runs_every_step_and_resumes(tmp_path):
    data, out = tmp_path / 'data', tmp_path / 'out'
    args = ['tools/demo.py', '--data', str(data), '--out', str(out), '--scenes', '2', '--samples-per-scene',
            '3', '--pretrain-epochs', '3', '--seg-iters', '10', '--seeds', '0', '1', '--workers', '0']
    first = run_tool(*args)
    steps = re.findall(r'\[demo (\d)/7\]', first.stdout)
    assert steps == [str(i) for i in range(1, 8)]  # data, depth, labels, seed 0, seed 1, results, pictures
    table = _table((out / 'results.md').read_text())
    assert list(table) == ['random init', 'S3PT']
    ids = set()
    for name in (data / 'nuimages' / 'semantic_splits' / 'val.txt').read_text().split():
        ids |= set(np.unique(cv2.imread(str(data / 'nuimages' / 'semantic_labels' / f'{name}.png'),
                                        cv2.IMREAD_UNCHANGED)))
    val_classes = [c for i, c in enumerate(NUIMAGES_SEG_CLASSES) if i in ids]
    for seeds, (miou, std), (present_miou, _), per_class in table.values():
        assert seeds == 2 and std >= 0.0
        ious = [iou for iou in per_class.values() if iou is not None]
        assert all(0.0 <= iou <= 100.0 for iou in ious)
        assert abs(miou - sum(ious) / len(ious)) < 0.06  # mIoU = mean of the classes evaluated (0.1 rounding)
        # the second mean: over the classes of the val labels, whatever the probe predicted
        assert abs(present_miou - sum(per_class[c] for c in val_classes) / len(val_classes)) < 0.06
    printed = first.stdout[first.stdout.index('Linear probing, synthetic nuImages val'):]
    assert _table(printed) == table  # the table printed is the one written
    # S3PT's difference to the floor of the same seed, from the per-seed mIoU line
    runs = dict(re.findall(r'(random init|S3PT): ([-\d.]+ / [-\d.]+)', printed))
    floor, s3pt = ([float(v) for v in runs[name].split(' / ')] for name in ('random init', 'S3PT'))
    differences = _tables((out / 'results.md').read_text())[1]
    assert differences[0] == ['backbone', 'mIoU - random init, per seed', 'mean ± std']
    assert differences[1][0] == 'S3PT'
    assert _tables((out / 'results.md').read_text())[2][0] == [
        'backbone', f'mIoU over the {len(val_classes)} val classes - random init, per seed', 'mean ± std']
    for cell, a, b in zip(differences[1][1].split(' / '), s3pt, floor):
        assert abs(float(cell) - (a - b)) < 0.011  # the per-seed mIoU are printed rounded to 0.01
    assert (out / 'seed0' / 'pretrain_s3pt' / 'epoch_3.pth').is_file()
    assert (out / 'seed1' / 'pretrain_s3pt' / 'epoch_3.pth').is_file()
    for name in ('depth_completion', 'spatial_clusters', 'segmentation'):
        picture = cv2.imread(str(out / 'pictures' / f'{name}.png'))
        assert picture is not None and picture.std() > 10, name
    # rows: 3 images; columns: image, ground truth, one per backbone (random init, S3PT)
    segmentation = cv2.imread(str(out / 'pictures' / 'segmentation.png'))
    image = cv2.imread(str(next((data / 'nuimages' / 'samples').rglob('*.jpg'))))
    assert segmentation.shape[1] == 4 * image.shape[1]

    second = run_tool(*args)
    assert 'already there' in second.stdout
    assert '-- S3PT (seed' not in second.stdout and '-- S3PT backbone (seed' not in second.stdout  # reused
    assert _table((out / 'results.md').read_text()) == table


def test_demo_rejects_too_short_schedules(tmp_path):
    result = run_tool('tools/demo.py', '--out', str(tmp_path), '--pretrain-epochs', '2', check=False)
    assert result.returncode != 0 and '--pretrain-epochs must be at least 3' in result.stderr


def test_demo_refuses_data_or_runs_made_with_other_settings(tmp_path):
    """An older default's data root or work dir is an error naming the file, not silently reused."""
    import dataclasses
    import json

    from s3pt_mm.synthetic import SyntheticConfig
    data, out = tmp_path / 'data', tmp_path / 'out'
    data.mkdir()  # the config file a generator run with the previous default (4 samples per scene) writes
    config = dataclasses.asdict(SyntheticConfig(seed=0, num_scenes=10, samples_per_scene=4))
    (data / 'synthetic_config.json').write_text(json.dumps(config))
    result = run_tool('tools/demo.py', '--data', str(data), '--out', str(out), check=False)
    assert result.returncode != 0
    assert f'{data / "synthetic_config.json"}: the data there was made with' in result.stderr
    assert "'samples_per_scene': 4" in result.stderr and "'samples_per_scene': 8" in result.stderr
    assert not (out / 'demo_data.json').exists()  # nothing recorded for a refused run

    out.mkdir()
    recorded = dict(data=str(tmp_path / 'other'), num_scenes=10, samples_per_scene=8)
    (out / 'demo_data.json').write_text(json.dumps(recorded))
    result = run_tool('tools/demo.py', '--data', str(tmp_path / 'fresh'), '--out', str(out), '--pretrain-epochs',
                      '3', check=False)
    assert result.returncode != 0 and f'{out / "demo_data.json"}: the runs in {out} were made on' in result.stderr
    assert not (tmp_path / 'fresh').exists()  # refused before any step ran

    (out / 'demo_data.json').unlink()  # runs from a demo that did not record its data yet
    (out / 'seed0').mkdir()
    result = run_tool('tools/demo.py', '--data', str(tmp_path / 'fresh'), '--out', str(out), check=False)
    assert result.returncode != 0 and f'{out} holds runs but no demo_data.json' in result.stderr
