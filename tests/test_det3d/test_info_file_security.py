"""Info files of the PETR configs run no code: with ``s3pt_mm.det3d`` imported (the configs' custom import),
mmdet3d's NuScenesDataset and NuScenesMetric read ``nuscenes_infos_*.pkl`` with the restricted unpickler;
a crafted file is refused, naming the file and what it holds, and its payload does not run; an
mmdet3d-style v2 info file (numpy scalars and all) still loads, as do our converter's files
(tests/test_converters/test_nuscenes_det3d.py builds NuScenesDataset on them)."""
import pickle

import numpy as np
import pytest

pytest.importorskip('mmdet3d')
from mmdet3d.evaluation.metrics import nuscenes_metric  # noqa: E402
from mmdet3d.registry import DATASETS  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402

import s3pt_mm.det3d  # noqa: E402,F401  (what the PETR configs import)
from s3pt_mm.utils.info_files import UnsafeInfoFileError  # noqa: E402
from tests.payloads import assert_info_file_refused, crafted_info_file  # noqa: E402

CAMERAS = ('CAM_FRONT', 'CAM_FRONT_RIGHT', 'CAM_FRONT_LEFT', 'CAM_BACK', 'CAM_BACK_LEFT', 'CAM_BACK_RIGHT')
CLASSES = ('car', 'truck', 'construction_vehicle', 'bus', 'trailer', 'barrier', 'motorcycle', 'bicycle',
           'pedestrian', 'traffic_cone')


def _v2_infos(**extra):
    """An info file in mmdet3d's v2 layout (``update_infos_to_v2`` / ``create_data.py nuscenes``): lists for
    the matrices and boxes, numpy scalars for the point counts and validity flags."""
    eye = np.eye(4).tolist()
    instance = dict(bbox_3d=[1.0, 2.0, -1.0, 4.0, 2.0, 1.5, 0.3], bbox_label_3d=0, bbox_3d_isvalid=np.bool_(True),
                    velocity=[0.5, 0.0], num_lidar_pts=np.int64(42), num_radar_pts=np.int64(3), attr_label=0,
                    **extra)
    images = {cam: dict(img_path=f'n015-2018__{cam}__1533151603512404.jpg', cam2img=np.eye(3).tolist(),
                        lidar2cam=eye, cam2ego=eye, sample_data_token=f'sd_{cam}', timestamp=1533151603.5)
              for cam in CAMERAS}
    sample = dict(sample_idx=0, token='sample0', timestamp=1533151603.5, ego2global=eye,
                  lidar_points=dict(num_pts_feats=5, lidar_path='n015-2018__LIDAR_TOP__1533151603547590.pcd.bin',
                                    lidar2ego=eye),
                  images=images, instances=[instance], cam_instances={cam: [] for cam in CAMERAS})
    return dict(metainfo=dict(categories={c: i for i, c in enumerate(CLASSES)}, dataset='nuscenes',
                              version='v1.0-trainval', info_version='1.1'), data_list=[sample])


def _dataset(path):
    init_default_scope('mmdet3d')
    return DATASETS.build(dict(
        type='NuScenesDataset', data_root=str(path.parent), ann_file=path.name,
        data_prefix=dict(pts='samples/LIDAR_TOP', **{cam: f'samples/{cam}' for cam in CAMERAS}),
        modality=dict(use_lidar=False, use_camera=True), use_valid_flag=True, test_mode=False,
        metainfo=dict(classes=list(CLASSES), version='v1.0-trainval'), pipeline=[]))


@pytest.fixture()
def crafted(tmp_path):
    return crafted_info_file(tmp_path, 'nuscenes_infos_train.pkl', _v2_infos)


def test_nuscenes_dataset_refuses_it(crafted):
    path, marker = crafted
    with pytest.raises(UnsafeInfoFileError) as error:
        _dataset(path)
    assert_info_file_refused(error.value, path, marker)


def test_nuscenes_metric_refuses_it(crafted):
    """NuScenesMetric reads the val info file with ``from mmengine import load``."""
    path, marker = crafted
    with pytest.raises(UnsafeInfoFileError) as error:
        nuscenes_metric.load(str(path), backend_args=None)
    assert_info_file_refused(error.value, path, marker)


@pytest.mark.parametrize('protocol', [2, pickle.HIGHEST_PROTOCOL])
def test_v2_info_file_still_loads(protocol, tmp_path):
    path = tmp_path / 'nuscenes_infos_val.pkl'
    path.write_bytes(pickle.dumps(_v2_infos(), protocol=protocol))
    dataset = _dataset(path)
    assert len(dataset) == 1
    info = dataset.get_data_info(0)
    assert info['token'] == 'sample0' and set(info['images']) == set(CAMERAS)
    assert info['ann_info']['gt_bboxes_3d'].tensor.shape == (1, 9)  # box + velocity
    assert nuscenes_metric.load(str(path))['data_list'][0]['instances'][0]['num_lidar_pts'] == 42
