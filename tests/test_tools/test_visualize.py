"""tools/visualize.py writes the pictures (depth before/after completion, teacher clusters)."""
import cv2
import numpy as np
import pytest
from tests.helpers import run_tool

from s3pt_mm.visualization import overlay_labels


def test_overlay_draws_each_label_and_boundaries():
    image = np.zeros((40, 60, 3), np.uint8)
    labels = np.array([[0, 1, 1], [0, 2, 2]])
    out = overlay_labels(image, labels)
    assert out.shape == image.shape
    colours = {tuple(out[5, 5]), tuple(out[5, 45]), tuple(out[35, 45])}
    assert len(colours) == 3  # three labels, three colours
    assert (out[:, 20] == 255).all()  # boundary between label 0 and 1/2


def test_overlay_uses_the_palette_and_leaves_ignored_pixels_alone():
    image = np.full((20, 40, 3), 100, np.uint8)
    labels = np.array([[0, 255]])  # left half class 0, right half ignored
    palette = np.array([[0, 0, 200]], np.uint8)
    out = overlay_labels(image, labels, alpha=0.5, palette=palette, ignore_index=255)
    assert tuple(out[10, 5]) == (50, 50, 150)  # 0.5 * image + 0.5 * palette[0]
    assert (out[:, 25:] == 100).all()  # ignored: the image unchanged


@pytest.mark.slow
def test_pictures_are_written(pretrain_data_root, s3pt_checkpoint, tmp_path):
    for args in (['depth', '--index', '2'], ['clusters', '--checkpoint', f'S3PT={s3pt_checkpoint}']):
        out = tmp_path / f'{args[0]}.png'
        run_tool('tools/visualize.py', *args, '--data-root', str(pretrain_data_root), '--out', str(out))
        picture = cv2.imread(str(out))
        assert picture is not None and picture.shape[0] > 90 and picture.std() > 10
