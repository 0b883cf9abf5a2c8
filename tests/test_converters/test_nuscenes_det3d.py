"""nuScenes info files for mmdetection3d 1.4 from the official devkit, on the synthetic v1.0-mini data:
official splits, LiDAR-frame boxes and camera calibration agreeing with the devkit, loadable by
mmdet3d's NuScenesDataset, written atomically."""
import pickle

import numpy as np
import pytest

pytest.importorskip('mmdet3d')
pytest.importorskip('nuscenes')
from nuscenes import NuScenes  # noqa: E402
from nuscenes.eval.detection.utils import category_to_detection_name  # noqa: E402
from nuscenes.utils.splits import mini_train, mini_val  # noqa: E402

from s3pt_mm.utils import fileio  # noqa: E402
from s3pt_mm.converters.nuscenes_det3d import DETECTION_CLASSES, create_nuscenes_det3d_infos  # noqa: E402
from s3pt_mm.utils.nuscenes_constants import CAMERAS as CAMERA_TYPES  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope='module')
def nusc(synthetic_data_root):
    return NuScenes(version='v1.0-mini', dataroot=str(synthetic_data_root / 'nuscenes'), verbose=False)


@pytest.fixture(scope='module')
def infos(synthetic_data_root, tmp_path_factory):
    out_dir = tmp_path_factory.mktemp('det3d_infos')
    paths = create_nuscenes_det3d_infos(str(synthetic_data_root / 'nuscenes'), 'v1.0-mini', str(out_dir))
    loaded = {split: pickle.load(open(path, 'rb')) for split, path in paths.items()}
    return paths, loaded, out_dir


def test_layout_and_official_splits(infos, nusc):
    paths, loaded, out_dir = infos
    assert sorted(p.name for p in out_dir.iterdir()) == ['nuscenes_infos_train.pkl', 'nuscenes_infos_val.pkl']
    for split, names in (('train', mini_train), ('val', mini_val)):
        info = loaded[split]
        assert info['metainfo'] == dict(categories={c: i for i, c in enumerate(DETECTION_CLASSES)},
                                        dataset='nuscenes', version='v1.0-mini', info_version='1.1')
        expected = [s['token'] for s in nusc.sample if nusc.get('scene', s['scene_token'])['name'] in names]
        assert [d['token'] for d in info['data_list']] == expected and expected
        assert [d['sample_idx'] for d in info['data_list']] == list(range(len(expected)))
        for data in info['data_list']:
            assert tuple(data['images']) == CAMERA_TYPES
            assert data['lidar_points']['num_pts_feats'] == 5
            assert data['lidar_points']['lidar_path'].endswith('.pcd.bin')
            assert np.asarray(data['ego2global']).shape == (4, 4)


def test_boxes_in_lidar_frame_agree_with_devkit(infos, nusc):
    _, loaded, _ = infos
    for data in loaded['train']['data_list'] + loaded['val']['data_list']:
        sample = nusc.get('sample', data['token'])
        _, boxes, _ = nusc.get_sample_data(sample['data']['LIDAR_TOP'])
        assert len(boxes) == len(data['instances']) > 0
        for box, instance in zip(boxes, data['instances']):
            x, y, z, length, width, height, yaw = instance['bbox_3d']
            assert np.allclose([x, y, z], box.center) and np.allclose([width, length, height], box.wlh)
            assert np.isclose(yaw, box.orientation.yaw_pitch_roll[0])
            name = category_to_detection_name(box.name)
            assert instance['bbox_label'] == instance['bbox_label_3d'] == (
                DETECTION_CLASSES.index(name) if name else -1)
            ann = nusc.get('sample_annotation', box.token)
            assert instance['num_lidar_pts'] == ann['num_lidar_pts']
            assert instance['bbox_3d_isvalid'] == (ann['num_lidar_pts'] + ann['num_radar_pts'] > 0)
            velocity = nusc.box_velocity(box.token)
            if np.isfinite(velocity).all():  # a rotation about (nearly) z keeps the speed
                assert np.isclose(np.linalg.norm(instance['velocity']), np.linalg.norm(velocity[:2]), atol=1e-3)


def test_lidar2cam_agrees_with_devkit_camera_boxes(infos, nusc, synthetic_data_root):
    """A box centre taken through lidar2cam equals the devkit's box in that camera's frame."""
    _, loaded, _ = infos
    for data in loaded['val']['data_list']:
        sample = nusc.get('sample', data['token'])
        lidar_centres = {inst_token: np.append(box.center, 1.0) for inst_token, box in
                         ((b.token, b) for b in nusc.get_sample_data(sample['data']['LIDAR_TOP'])[1])}
        for cam in CAMERA_TYPES:
            image = data['images'][cam]
            path, cam_boxes, intrinsic = nusc.get_sample_data(sample['data'][cam])
            assert path.endswith(image['img_path']) and np.allclose(image['cam2img'], intrinsic)
            for box in cam_boxes:
                assert np.allclose((np.asarray(image['lidar2cam']) @ lidar_centres[box.token])[:3], box.center,
                                   atol=1e-6)


def test_mmdet3d_nuscenes_dataset_loads_the_infos(infos, synthetic_data_root):
    from mmengine.registry import init_default_scope

    import s3pt_mm.det3d  # noqa: F401
    from mmdet3d.registry import DATASETS
    from mmdet3d.structures import LiDARInstance3DBoxes
    init_default_scope('mmdet3d')
    paths, loaded, _ = infos
    cams = {cam: f'samples/{cam}' for cam in CAMERA_TYPES}
    dataset = DATASETS.build(dict(
        type='NuScenesDataset', data_root=str(synthetic_data_root / 'nuscenes'), ann_file=paths['train'],
        data_prefix=dict(pts='samples/LIDAR_TOP', sweeps='sweeps/LIDAR_TOP', **cams),
        modality=dict(use_lidar=False, use_camera=True), use_valid_flag=True,
        metainfo=dict(classes=list(DETECTION_CLASSES), version='v1.0-mini'),
        pipeline=[dict(type='LoadMultiViewImageFromFiles', to_float32=True, num_views=6),
                  dict(type='LoadAnnotations3D', with_bbox_3d=True, with_label_3d=True, with_attr_label=False),
                  dict(type='Pack3DDetInputs', keys=['img', 'gt_bboxes_3d', 'gt_labels_3d'])]))
    assert len(dataset) == len(loaded['train']['data_list'])
    item = dataset[0]
    assert item['inputs']['img'].shape == (6, 3, 90, 160)
    gt = item['data_samples'].gt_instances_3d
    assert isinstance(gt.bboxes_3d, LiDARInstance3DBoxes) and gt.bboxes_3d.tensor.shape[1] == 9
    valid = [i for i in loaded['train']['data_list'][0]['instances'] if i['bbox_3d_isvalid']]
    assert np.allclose(gt.bboxes_3d.gravity_center.numpy(), [i['bbox_3d'][:3] for i in valid], atol=1e-5)
    assert gt.labels_3d.tolist() == [i['bbox_label_3d'] for i in valid]


def test_atomic_write_and_errors(synthetic_data_root, tmp_path, monkeypatch):
    dataroot = str(synthetic_data_root / 'nuscenes')
    with pytest.raises(ValueError, match='version'):
        create_nuscenes_det3d_infos(dataroot, 'v1.0-test', str(tmp_path))
    (tmp_path / 'nuscenes_infos_train.pkl').write_bytes(b'previous')

    def failing_replace(*args, **kwargs):
        raise OSError('disk full')

    monkeypatch.setattr(fileio.os, 'replace', failing_replace)
    with pytest.raises(OSError, match='disk full'):
        create_nuscenes_det3d_infos(dataroot, 'v1.0-mini', str(tmp_path))
    # The previous file is intact and no partial file is left behind.
    assert sorted(p.name for p in tmp_path.iterdir()) == ['nuscenes_infos_train.pkl']
    assert (tmp_path / 'nuscenes_infos_train.pkl').read_bytes() == b'previous'
