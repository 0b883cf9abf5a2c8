"""tools/demo.py (what `bash tools/demo.sh` runs) end to end at a tiny size: every step, the comparison
table with the random-init floor, the pictures, and a second run that reuses the finished steps."""
import re

import cv2
import pytest

from conftest import run_tool

pytestmark = pytest.mark.slow


def _table(markdown):
    """{backbone: mIoU} of the demo's results table."""
    rows = [line.split('|')[1:-1] for line in markdown.splitlines() if line.startswith('| ')]
    header, body = rows[0], rows[1:]
    assert [c.strip() for c in header[:2]] == ['backbone', 'mIoU']
    return {cells[0].strip(): float(cells[1]) for cells in body}


def test_demo_runs_every_step_and_resumes(tmp_path):
    data, out = tmp_path / 'data', tmp_path / 'out'
    args = ['tools/demo.py', '--data', str(data), '--out', str(out), '--scenes', '2', '--samples-per-scene',
            '3', '--pretrain-epochs', '3', '--seg-iters', '10', '--workers', '0']
    first = run_tool(*args)
    steps = re.findall(r'\[demo (\d)/7\]', first.stdout)
    assert steps == [str(i) for i in range(1, 8)]
    table = _table((out / 'results.md').read_text())
    assert list(table) == ['random init', 'S3PT']
    assert all(0.0 <= miou <= 100.0 for miou in table.values())
    assert (out / 'pretrain_s3pt' / 'epoch_3.pth').is_file()
    for name in ('depth_completion', 'spatial_clusters', 'segmentation'):
        picture = cv2.imread(str(out / 'pictures' / f'{name}.png'))
        assert picture is not None and picture.std() > 10, name
    # rows: 3 images; columns: image, ground truth, one per backbone (random init, S3PT)
    segmentation = cv2.imread(str(out / 'pictures' / 'segmentation.png'))
    image = cv2.imread(str(next((data / 'nuimages' / 'samples').rglob('*.jpg'))))
    assert segmentation.shape[1] == 4 * image.shape[1]

    second = run_tool(*args)
    assert 'already there' in second.stdout
    assert '-- S3PT ->' not in second.stdout and '-- S3PT backbone ->' not in second.stdout  # reused
    assert _table((out / 'results.md').read_text()) == table


def test_demo_rejects_too_short_schedules(tmp_path):
    result = run_tool('tools/demo.py', '--out', str(tmp_path), '--pretrain-epochs', '2', check=False)
    assert result.returncode != 0 and '--pretrain-epochs must be at least 3' in result.stderr
