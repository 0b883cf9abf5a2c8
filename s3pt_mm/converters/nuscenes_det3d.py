"""nuScenes info files for mmdetection3d 1.4 (``NuScenesDataset``, infos v2) from the official devkit.

:func:`create_nuscenes_det3d_infos` writes ``nuscenes_infos_train.pkl`` and ``nuscenes_infos_val.pkl``
in the layout of mmdet3d's own converter (``tools/dataset_converters/nuscenes_converter.py`` followed by
``update_infos_to_v2.py``)::

    dict(metainfo=dict(categories={name: label}, dataset='nuscenes', version=..., info_version='1.1'),
         data_list=[dict(
             sample_idx=i, token=sample token, timestamp=seconds,
             ego2global=4x4 (ego pose at the LiDAR timestamp),
             lidar_points=dict(num_pts_feats=5, lidar_path=file name, lidar2ego=4x4),
             lidar_sweeps=[dict(lidar_points=dict(lidar_path, lidar2ego, lidar2sensor), ego2global,
                                timestamp, sample_data_token), ...],   # newest first
             images={CAM_*: dict(img_path=file name, height, width, cam2img=3x3, lidar2cam=4x4,
                                 cam2ego=4x4, sample_data_token, timestamp)},
             instances=[dict(bbox_3d=[x, y, z, l, w, h, yaw], bbox_label, bbox_label_3d,
                             velocity=[vx, vy], num_lidar_pts, num_radar_pts, bbox_3d_isvalid)])])

Frames and units (mmdet3d LiDAR conventions): ``bbox_3d`` is in the LiDAR frame of the key frame (x
forward, y left, z up; metres), centred at the box centre (``NuScenesDataset`` loads it with
``origin=(0.5, 0.5, 0.5)``), sizes ``l, w, h`` along x, y, z of the box, ``yaw`` (radians) the rotation
about z from the LiDAR x axis; ``velocity`` is in m/s in the LiDAR frame (NaN where the devkit has none;
the dataset sets it to 0). ``lidar2cam`` goes from the LiDAR frame at the LiDAR timestamp to the camera
frame at the camera timestamp through the global frame, as the devkit projects points. File paths are
file names: configs prefix them with ``data_prefix`` (``samples/CAM_FRONT`` ...); sweep paths keep
``sweeps/LIDAR_TOP/`` so that ``Det3DDataset`` resolves them with ``data_prefix['sweeps']``.

Labels follow the devkit's ``category_to_detection_name`` (the official detection classes) and
``NuScenesDataset.METAINFO['classes']`` order; other categories are kept with label -1, as mmdet3d does.
Camera-frame 2D instances (``cam_instances``, for monocular detectors) are not written.
"""
import os.path as osp
from typing import Dict, Optional

import numpy as np

from ..depth.projection import lidar_to_camera, transform_matrix
from ..utils.fileio import dump_pickle_atomic
from ..utils.nuscenes_constants import CAMERAS, NUSCENES_SPLITS, NUSCENES_TABLES, check_dataroot

__all__ = ['create_nuscenes_det3d_infos', 'DETECTION_CLASSES']

#: ``NuScenesDataset.METAINFO['classes']``: label i of the info files is DETECTION_CLASSES[i].
DETECTION_CLASSES = ('car', 'truck', 'trailer', 'bus', 'construction_vehicle', 'bicycle', 'motorcycle',
                     'pedestrian', 'traffic_cone', 'barrier')
#: The versions with annotated (train, val) splits.
ANNOTATED_VERSIONS = tuple(v for v, splits in NUSCENES_SPLITS.items() if len(splits) == 2)


def create_nuscenes_det3d_infos(dataroot: str, version: str = 'v1.0-trainval', out_dir: Optional[str] = None,
                                max_sweeps: int = 10) -> Dict[str, str]:
    """Write ``nuscenes_infos_train.pkl`` and ``nuscenes_infos_val.pkl`` for mmdetection3d 1.4.

    Args:
        dataroot (str): nuScenes root (holds ``samples/``, ``sweeps/`` and ``<version>/``).
        version (str): ``'v1.0-trainval'`` (splits train / val) or ``'v1.0-mini'`` (mini_train /
            mini_val).
        out_dir (str, optional): where to write the files; defaults to ``dataroot``.
        max_sweeps (int): previous LiDAR sweeps listed per key frame (10 as mmdet3d).

    Returns:
        dict: ``{'train': path, 'val': path}``. Each file is written to a temporary file and renamed, so a
        crash never leaves a half-written info file.

    Raises:
        ValueError: unknown version, or a split with no scene in the dataset.
        FileNotFoundError: no such dataroot, or it lacks the version's tables.
    """
    from nuscenes import NuScenes
    from nuscenes.utils.splits import create_splits_scenes

    if version not in ANNOTATED_VERSIONS:
        raise ValueError(f'version must be one of {sorted(ANNOTATED_VERSIONS)}, got {version!r}')
    check_dataroot(dataroot, version, NUSCENES_SPLITS, NUSCENES_TABLES, 'nuScenes root')
    out_dir = dataroot if out_dir is None else out_dir
    nusc = NuScenes(version=version, dataroot=dataroot, verbose=False)
    split_scenes = create_splits_scenes()
    scene_split = {}
    for split, split_name in zip(('train', 'val'), NUSCENES_SPLITS[version]):
        names = set(split_scenes[split_name])
        tokens = {s['token'] for s in nusc.scene if s['name'] in names}
        if not tokens:
            raise ValueError(f'{dataroot} ({version}) has no scene of the official {split_name} split')
        scene_split.update(dict.fromkeys(tokens, split))

    data_lists = {'train': [], 'val': []}
    for sample in nusc.sample:
        split = scene_split.get(sample['scene_token'])
        if split is not None:
            info = _sample_info(nusc, sample, max_sweeps)
            info['sample_idx'] = len(data_lists[split])
            data_lists[split].append(info)

    paths = {}
    for split, data_list in data_lists.items():
        metainfo = dict(categories={name: i for i, name in enumerate(DETECTION_CLASSES)}, dataset='nuscenes',
                        version=version, info_version='1.1')
        paths[split] = osp.join(out_dir, f'nuscenes_infos_{split}.pkl')
        dump_pickle_atomic(paths[split], dict(metainfo=metainfo, data_list=data_list))
    return paths


def _record_matrix(record):
    """(4, 4) float64 transform of a ``calibrated_sensor`` (sensor -> ego) or ``ego_pose`` (ego -> global)."""
    return transform_matrix(record['translation'], record['rotation'])


def _sample_info(nusc, sample, max_sweeps):
    """The v2 info dict of one key frame (without ``sample_idx``)."""
    from nuscenes.eval.detection.utils import category_to_detection_name

    lidar_sd = nusc.get('sample_data', sample['data']['LIDAR_TOP'])
    lidar_calib = nusc.get('calibrated_sensor', lidar_sd['calibrated_sensor_token'])
    lidar_pose = nusc.get('ego_pose', lidar_sd['ego_pose_token'])
    lidar2ego = _record_matrix(lidar_calib)
    ego2global = _record_matrix(lidar_pose)
    info = dict(
        token=sample['token'],
        timestamp=sample['timestamp'] / 1e6,
        ego2global=ego2global.tolist(),
        lidar_points=dict(num_pts_feats=5, lidar_path=osp.basename(lidar_sd['filename']),
                          lidar2ego=lidar2ego.tolist()),
        lidar_sweeps=_lidar_sweeps(nusc, lidar_sd, lidar_calib, lidar_pose, max_sweeps),
        images={},
        instances=[],
    )
    for cam in CAMERAS:
        cam_sd = nusc.get('sample_data', sample['data'][cam])
        cam_calib = nusc.get('calibrated_sensor', cam_sd['calibrated_sensor_token'])
        cam_pose = nusc.get('ego_pose', cam_sd['ego_pose_token'])
        info['images'][cam] = dict(
            img_path=osp.basename(cam_sd['filename']),
            height=cam_sd['height'],
            width=cam_sd['width'],
            cam2img=np.asarray(cam_calib['camera_intrinsic'], dtype=np.float64).tolist(),
            lidar2cam=lidar_to_camera(lidar_calib, lidar_pose, cam_pose, cam_calib).tolist(),
            cam2ego=_record_matrix(cam_calib).tolist(),
            sample_data_token=cam_sd['token'],
            timestamp=cam_sd['timestamp'] / 1e6)

    # Boxes in the LiDAR frame, as the devkit returns them for the LiDAR sample_data.
    _, boxes, _ = nusc.get_sample_data(lidar_sd['token'])
    global2lidar_rot = (lidar2ego[:3, :3].T @ ego2global[:3, :3].T)
    for box in boxes:
        ann = nusc.get('sample_annotation', box.token)
        name = category_to_detection_name(ann['category_name'])
        label = DETECTION_CLASSES.index(name) if name in DETECTION_CLASSES else -1
        width, length, height = box.wlh
        velocity = global2lidar_rot @ nusc.box_velocity(box.token)
        info['instances'].append(dict(
            bbox_3d=[*box.center.tolist(), float(length), float(width), float(height),
                     float(box.orientation.yaw_pitch_roll[0])],
            bbox_label=label,
            bbox_label_3d=label,
            velocity=velocity[:2].tolist(),
            num_lidar_pts=int(ann['num_lidar_pts']),
            num_radar_pts=int(ann['num_radar_pts']),
            bbox_3d_isvalid=bool(ann['num_lidar_pts'] + ann['num_radar_pts'] > 0)))
    return info


def _lidar_sweeps(nusc, lidar_sd, lidar_calib, lidar_pose, max_sweeps):
    """Up to ``max_sweeps`` previous LiDAR sweeps of a key frame, newest first."""
    sweeps = []
    token = lidar_sd['prev']
    while token and len(sweeps) < max_sweeps:
        sd = nusc.get('sample_data', token)
        calib = nusc.get('calibrated_sensor', sd['calibrated_sensor_token'])
        pose = nusc.get('ego_pose', sd['ego_pose_token'])
        sweeps.append(dict(
            lidar_points=dict(lidar_path=sd['filename'], lidar2ego=_record_matrix(calib).tolist(),
                              lidar2sensor=lidar_to_camera(lidar_calib, lidar_pose, pose, calib).tolist()),
            ego2global=_record_matrix(pose).tolist(),
            timestamp=sd['timestamp'] / 1e6,
            sample_data_token=sd['token']))
        token = sd['prev']
    return sweeps
