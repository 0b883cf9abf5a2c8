"""tools/cluster_quality.py and tools/colour_baseline.py: tiny runs on the session's synthetic data."""
import json

import cv2
import numpy as np
import pytest
from tests.helpers import run_tool

from s3pt_mm.evaluation.cluster_eval import synthetic_images


def test_ground_truth_images_match_the_files(pretrain_data_root, synthetic_data_root):
    config = str(synthetic_data_root / 'synthetic_config.json')
    items = list(synthetic_images(str(pretrain_data_root), config_path=config, limit=3))
    assert len(items) == 3
    for item in items:
        assert item.instances.shape == item.image.shape[:2] == item.lidar_depth.shape
        objects = item.instances >= 0
        # Instances are where objects are: finite true depth, and LiDAR depth close to it on most pixels.
        assert np.isfinite(item.true_depth[objects]).all()
        known = objects & (item.lidar_depth > 0)
        if known.sum() > 50:
            error = np.abs(item.lidar_depth[known] - item.true_depth[known]) / item.true_depth[known]
            assert np.median(error) < 0.1


def test_synthetic_images_refuses_other_data(pretrain_data_root, tmp_path):
    with pytest.raises(FileNotFoundError, match='synthetic_config.json'):
        next(synthetic_images(str(pretrain_data_root), config_path=str(tmp_path / 'synthetic_config.json')))


@pytest.mark.slow
def test_cluster_quality_tool_writes_table_and_picture(pretrain_data_root, synthetic_data_root, s3pt_checkpoint,
                                                       tmp_path):
    out = tmp_path / 'cq'
    result = run_tool('tools/cluster_quality.py', '--checkpoint', f'S3PT={s3pt_checkpoint}', '--data',
                      str(pretrain_data_root), '--synthetic-config', str(synthetic_data_root / 'synthetic_config.json'),
                      '--num-images', '2', '--out', str(out))
    assert '| random init | CrIBo' in result.stdout and '| S3PT | S3PT' in result.stdout
    report = json.loads((out / 'cluster_quality.json').read_text())['results']
    assert set(report) == {'random init', 'S3PT'}
    for settings in report.values():
        assert len(settings) == 3
        for summary in settings.values():
            assert 0 <= summary['purity'] <= 1 and -1 <= summary['ari'] <= 1 and 0 <= summary['own_all'] <= 1
            assert summary['n_all'] >= summary['n_small'] > 0
    assert len((out / 'cluster_quality.csv').read_text().splitlines()) == 1 + 2 * 3
    picture = cv2.imread(str(out / 'cluster_quality.png'))
    assert picture is not None and picture.shape[0] > 2 * 90 and picture.std() > 10


@pytest.mark.slow
def test_colour_baseline_tool(synthetic_data_root, tmp_path):
    from s3pt_mm.converters.nuimages_seg import convert_version
    images = str(synthetic_data_root / 'nuimages')
    labels = tmp_path / 'labels'
    for version in ('v1.0-train', 'v1.0-val'):
        convert_version(images, version, out_dir=str(labels), progress=False)
    # The tool reads images and labels from one root: link the images next to the labels.
    (labels / 'samples').symlink_to(synthetic_data_root / 'nuimages' / 'samples', target_is_directory=True)
    run_tool('tools/colour_baseline.py', f'synthetic={labels}', '--out-dir', str(tmp_path / 'out'))
    result = json.loads((tmp_path / 'out' / 'colour_baseline.json').read_text())['synthetic']
    assert 0 < result['miou'] < 100 and result['iou']['background'] > 0
    assert (tmp_path / 'out' / 'colour_baseline.md').read_text().startswith('| data | mIoU |')
