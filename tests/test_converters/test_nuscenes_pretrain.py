"""tools/create_data.py nuscenes on the synthetic nuScenes data: infos, depth maps, resume, errors."""
import json
import os
import pickle
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

from s3pt_mm.converters import ConversionError, create_pretrain_infos
from s3pt_mm.converters.nuscenes_pretrain import block_nearest
from s3pt_mm.depth import fill_in_fast, lidar_to_camera, sparse_depth_map
from tests.helpers import ROOT


@pytest.fixture()
def nuscenes_copy(synthetic_data_root, tmp_path):
    root = tmp_path / 'nuscenes'
    shutil.copytree(synthetic_data_root / 'nuscenes', root)
    return root


def pngs(root):
    return sorted((root / 'depth').rglob('*.png'))


@pytest.mark.slow
def test_end_to_end_then_resume(nuscenes_copy):
    report = create_pretrain_infos(str(nuscenes_copy), 'v1.0-mini', workers=2, progress=False)
    n_images = 2 * 3 * 6  # scenes x samples x cameras
    assert (report['images'], report['done'], report['skipped'], report['failed']) == (n_images, n_images, 0, 0)
    train = pickle.load(open(nuscenes_copy / 's3pt_infos_pretrain_train.pkl', 'rb'))
    val = pickle.load(open(nuscenes_copy / 's3pt_infos_pretrain_val.pkl', 'rb'))
    assert len(train['data_list']) == len(val['data_list']) == n_images // 2
    assert train['metainfo']['depth_scale'] == 256.0 and train['metainfo']['split'] == 'mini_train'
    assert {e['cam'] for e in train['data_list']} == {'CAM_FRONT', 'CAM_FRONT_RIGHT', 'CAM_FRONT_LEFT',
                                                      'CAM_BACK', 'CAM_BACK_LEFT', 'CAM_BACK_RIGHT'}
    assert not list(nuscenes_copy.rglob('.tmp_*'))  # atomic writes leave nothing behind

    # the completed depth agrees with the raw LiDAR depth where the LiDAR hits
    from nuscenes.nuscenes import NuScenes
    nusc = NuScenes('v1.0-mini', str(nuscenes_copy), verbose=False)
    entry = train['data_list'][0]
    cam = nusc.get('sample_data', entry['sample_data_token'])
    lidar = nusc.get('sample_data', nusc.get('sample', cam['sample_token'])['data']['LIDAR_TOP'])
    matrix = lidar_to_camera(nusc.get('calibrated_sensor', lidar['calibrated_sensor_token']),
                             nusc.get('ego_pose', lidar['ego_pose_token']),
                             nusc.get('ego_pose', cam['ego_pose_token']),
                             nusc.get('calibrated_sensor', cam['calibrated_sensor_token']))
    points = np.fromfile(nuscenes_copy / lidar['filename'], np.float32).reshape(-1, 5)[:, :3]
    sparse = sparse_depth_map(points, matrix, np.array(nusc.get(
        'calibrated_sensor', cam['calibrated_sensor_token'])['camera_intrinsic']),
        (cam['height'], cam['width'])).depth
    dense = cv2.imread(str(nuscenes_copy / entry['depth_path']), cv2.IMREAD_UNCHANGED) / 256.0
    assert dense.shape == (cam['height'] // 2, cam['width'] // 2)
    # the PNG is IP-Basic of the block-nearest sparse map, in 1/256 m steps
    reduced = block_nearest(sparse, 2)
    np.testing.assert_allclose(dense, fill_in_fast(reduced), atol=0.5 / 256 + 1e-6)
    # and it agrees with the LiDAR where the LiDAR hits (IP-Basic's 5x5 filters blur depth edges at
    # this tiny 45x80 resolution; at 800x450 the agreement is much tighter)
    hit = reduced > 0
    relative = np.abs(dense[hit] - reduced[hit]) / reduced[hit]
    assert np.median(relative) < 0.15

    # resume: remove a few depth maps; only those are recomputed, and identically
    before = {p: p.read_bytes() for p in pngs(nuscenes_copy)}
    removed = list(before)[:5]
    for p in removed:
        p.unlink()
    report = create_pretrain_infos(str(nuscenes_copy), 'v1.0-mini', workers=0, progress=False)
    assert (report['done'], report['skipped']) == (5, n_images - 5)
    assert all(p.read_bytes() == before[p] for p in before)
    # a truncated (corrupt) depth map is not trusted: it is recomputed
    removed[0].write_bytes(before[removed[0]][:20])
    report = create_pretrain_infos(str(nuscenes_copy), 'v1.0-mini', workers=0, progress=False)
    assert report['done'] == 1 and removed[0].read_bytes() == before[removed[0]]


def test_corrupt_point_cloud_is_named_or_counted(nuscenes_copy):
    lidar = sorted((nuscenes_copy / 'samples' / 'LIDAR_TOP').glob('*.pcd.bin'))[0]
    lidar.write_bytes(lidar.read_bytes()[:-6])  # truncated
    with pytest.raises(ConversionError, match=f'corrupt point cloud: .*{lidar.name}'):
        create_pretrain_infos(str(nuscenes_copy), 'v1.0-mini', workers=0, progress=False)
    assert not (nuscenes_copy / 's3pt_infos_pretrain_train.pkl').exists()
    report = create_pretrain_infos(str(nuscenes_copy), 'v1.0-mini', workers=0, progress=False,
                                   skip_errors=True)
    assert report['failed'] == 6 and report['failure_reasons'] == {'corrupt point cloud': 6}
    assert len(report['failed_images']['corrupt point cloud']) == 6
    infos = pickle.load(open(nuscenes_copy / 's3pt_infos_pretrain_train.pkl', 'rb'))['data_list']
    infos += pickle.load(open(nuscenes_copy / 's3pt_infos_pretrain_val.pkl', 'rb'))['data_list']
    assert len(infos) == 36 - 6  # the failed images have no entry and no depth map
    assert len(pngs(nuscenes_copy)) == 30


def test_missing_image_and_empty_sweep(nuscenes_copy):
    lidar = sorted((nuscenes_copy / 'samples' / 'LIDAR_TOP').glob('*.pcd.bin'))[-1]
    lidar.write_bytes(b'')
    image = sorted((nuscenes_copy / 'samples' / 'CAM_BACK').glob('*.jpg'))[0]
    image.unlink()
    with pytest.raises(ConversionError, match=f'(missing image: .*{image.name})|(empty sweep)'):
        create_pretrain_infos(str(nuscenes_copy), 'v1.0-mini', workers=0, progress=False)
    for png in pngs(nuscenes_copy):  # start again from nothing
        png.unlink()
    report = create_pretrain_infos(str(nuscenes_copy), 'v1.0-mini', workers=0, progress=False,
                                   skip_errors=True)
    assert report['failure_reasons'] == {'missing image': 1, 'empty sweep': 6}
    assert report['failed_images']['missing image'] == [str(image.relative_to(nuscenes_copy))]


def test_failures_are_grouped_by_kind(nuscenes_copy):
    """A sweep whose points project into no camera fails its 6 images with messages that differ (each
    names its camera and image); the report groups them under one kind and lists the images."""
    lidar = sorted((nuscenes_copy / 'samples' / 'LIDAR_TOP').glob('*.pcd.bin'))[0]
    np.full((3, 5), np.nan, np.float32).tofile(lidar)  # three invalid points, dropped by the projection
    with pytest.raises(ConversionError,
                       match=f'no LiDAR point in the image: .*{lidar.name} projects no point'):
        create_pretrain_infos(str(nuscenes_copy), 'v1.0-mini', workers=0, progress=False)
    report = create_pretrain_infos(str(nuscenes_copy), 'v1.0-mini', workers=0, progress=False,
                                   skip_errors=True)
    assert report['failure_reasons'] == {'no LiDAR point in the image': 6}
    images = report['failed_images']['no LiDAR point in the image']
    assert sorted(image.split('/')[1] for image in images) == sorted(
        ['CAM_FRONT', 'CAM_FRONT_RIGHT', 'CAM_FRONT_LEFT', 'CAM_BACK', 'CAM_BACK_LEFT', 'CAM_BACK_RIGHT'])
    saved = json.loads((nuscenes_copy / 's3pt_create_data_report.json').read_text())
    assert saved['failed_images'] == report['failed_images']


def test_wrong_root_or_version_cli(tmp_path, synthetic_data_root):
    def run(*args):
        return subprocess.run([sys.executable, str(ROOT / 'tools/create_data.py'), 'nuscenes', *args],
                              capture_output=True, text=True, cwd=ROOT,
                              env=dict(os.environ, PYTHONPATH=str(ROOT)))

    result = run('--root-path', str(tmp_path / 'nowhere'), '--version', 'v1.0-mini')
    assert result.returncode == 1 and 'nuScenes root not found' in result.stderr
    result = run('--root-path', str(synthetic_data_root / 'nuscenes'), '--version', 'v1.0-trainval')
    assert result.returncode == 1 and 'v1.0-trainval/sample.json not found' in result.stderr


def test_block_nearest_keeps_the_nearest_return_of_each_block():
    sparse = np.zeros((4, 4), np.float32)
    sparse[0, 0], sparse[1, 1] = 20.0, 8.0  # block (0, 0): nearest is 8 m
    sparse[2, 3] = 30.0  # block (1, 1)
    np.testing.assert_array_equal(block_nearest(sparse, 2), [[8.0, 0.0], [0.0, 30.0]])
    with pytest.raises(ConversionError, match='not divisible'):
        block_nearest(np.zeros((5, 4), np.float32), 2)


def test_image_scale_writes_resized_images_the_s3pt_pipeline_reads(nuscenes_copy):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from PIL import Image

    from s3pt_mm.datasets import NuScenesPretrainDataset
    report = create_pretrain_infos(str(nuscenes_copy), 'v1.0-mini', workers=0, progress=False, image_scale=0.5)
    assert report['done'] == report['images'] == 36
    train = pickle.load(open(nuscenes_copy / 's3pt_infos_pretrain_train.pkl', 'rb'))
    assert train['metainfo']['image_scale'] == 0.5
    for entry in train['data_list'][:6]:
        assert entry['img_path'].startswith('scaled_0.5/samples/')
        original = Image.open(nuscenes_copy / entry['img_path'][len('scaled_0.5/'):]).convert('RGB')
        scaled = cv2.imread(str(nuscenes_copy / entry['img_path']))
        assert scaled.shape[:2] == (entry['height'], entry['width']) == (original.height // 2, original.width // 2)
        # PIL's anti-aliased bicubic, then JPEG quality 95
        expected = cv2.cvtColor(np.asarray(original.resize((entry['width'], entry['height']),
                                                           Image.Resampling.BICUBIC)), cv2.COLOR_RGB2BGR)
        mse = np.mean((scaled.astype(float) - expected) ** 2)
        assert 10 * np.log10(255 ** 2 / mse) >= 35.0
        # the depth map is as before, now at the stored image's size (factor 2 x 0.5 = 1)
        assert cv2.imread(str(nuscenes_copy / entry['depth_path']), cv2.IMREAD_UNCHANGED).shape == scaled.shape[:2]
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(str(ROOT / 'configs/pretrain/s3pt_vit-s16_8xb32-500e_nuscenes.py'))
    dataset = NuScenesPretrainDataset(data_root=str(nuscenes_copy), ann_file='s3pt_infos_pretrain_train.pkl',
                                      pipeline=cfg.train_dataloader.dataset.pipeline)
    sample = dataset[0]['data_samples']
    assert sample.ori_shape == (train['data_list'][0]['height'], train['data_list'][0]['width'])
    assert sample.token_depth_valid.any()
    # resume: a removed resized image is written again, nothing else
    removed = nuscenes_copy / train['data_list'][0]['img_path']
    removed.unlink()
    report = create_pretrain_infos(str(nuscenes_copy), 'v1.0-mini', workers=0, progress=False, image_scale=0.5)
    assert (report['done'], report['skipped']) == (1, 35) and removed.is_file()
    with pytest.raises(ValueError, match='image_scale'):
        create_pretrain_infos(str(nuscenes_copy), 'v1.0-mini', workers=0, progress=False, image_scale=0.3)
