"""nuScenes -> S3PT pre-training infos and dense LiDAR depth maps (``tools/create_data.py nuscenes``).

For every camera image of every keyframe sample (6 per sample) of the official splits, the sample's
LIDAR_TOP sweep is projected into the camera through lidar -> ego(t_lidar) -> global -> ego(t_camera) ->
camera (the chain of the devkit's ``map_pointcloud_to_image``), reduced to ``1 / depth_downsample`` of the
image resolution keeping the NEAREST return of each block, completed with IP-Basic (paper §4.1) and saved
as a 16-bit PNG: ``value = round(depth_m * depth_scale)``, 0 = unknown, ``depth_scale = 256`` (1/256 m
steps, up to 255.99 m).

Reducing the sparse map before completion keeps every block's nearest return (what the full-resolution
z-buffer would show in front) and makes IP-Basic ``depth_downsample**2`` times cheaper; the training
pipeline upsamples the map to the image with nearest neighbour, and a ViT token (16 x 16 pixels of a
crop that is at least 1/4 of the image, resized to 224) covers far more than one depth pixel at factor 2.

Work is split in per-image jobs of plain data, run by a pool of worker processes. Each PNG is written
atomically (temporary file + rename) and an image whose PNG already exists and reads back correctly is
skipped, so an interrupted run resumes where it stopped. Infos and the report are written at the end,
atomically too.
"""
import os.path as osp
from collections import Counter
from multiprocessing import Pool

import cv2
import numpy as np
from PIL import Image
from tqdm import tqdm

from s3pt_mm.depth import fill_in_fast, fill_in_multiscale, lidar_to_camera, sparse_depth_map
from s3pt_mm.utils.fileio import dump_pickle_atomic, write_json_atomic, write_png_atomic

CAMERAS = ('CAM_FRONT', 'CAM_FRONT_RIGHT', 'CAM_FRONT_LEFT', 'CAM_BACK', 'CAM_BACK_LEFT', 'CAM_BACK_RIGHT')
SPLITS = {'v1.0-mini': ('mini_train', 'mini_val'), 'v1.0-trainval': ('train', 'val'),
          'v1.0-test': ('test', )}
DEPTH_SCALE = 256.0
COMPLETION = dict(fast=fill_in_fast, multiscale=fill_in_multiscale)


class ConversionError(RuntimeError):
    """An image that cannot be converted; the message names the file and the problem."""


def check_dataroot(root, version):
    """Raise a clear error for a wrong dataroot or version (before the devkit's own assertions)."""
    if version not in SPLITS:
        raise ValueError(f'unknown nuScenes version {version!r}; expected one of {sorted(SPLITS)}')
    if not osp.isdir(root):
        raise FileNotFoundError(f'nuScenes root not found: {root}')
    tables = osp.join(root, version)
    for table in ('sample', 'sample_data', 'calibrated_sensor', 'ego_pose', 'scene'):
        path = osp.join(tables, f'{table}.json')
        if not osp.isfile(path):
            raise FileNotFoundError(f'{path} not found: {root} is not a nuScenes root with version '
                                    f'{version} (expected the table files under {tables}/)')


def build_jobs(nusc, version, out_dir, depth_downsample):
    """Per-image jobs (plain dicts) for every camera image of the version's splits, in a fixed order."""
    from nuscenes.utils.splits import create_splits_scenes
    split_scenes = create_splits_scenes()
    scene_split = {name: split for split in SPLITS[version] for name in split_scenes[split]}
    jobs = []
    for scene in nusc.scene:
        split = scene_split.get(scene['name'])
        if split is None:
            continue
        token = scene['first_sample_token']
        while token:
            sample = nusc.get('sample', token)
            lidar = nusc.get('sample_data', sample['data']['LIDAR_TOP'])
            lidar_calib = nusc.get('calibrated_sensor', lidar['calibrated_sensor_token'])
            lidar_pose = nusc.get('ego_pose', lidar['ego_pose_token'])
            for cam_name in CAMERAS:
                if cam_name not in sample['data']:
                    continue
                cam = nusc.get('sample_data', sample['data'][cam_name])
                cam_calib = nusc.get('calibrated_sensor', cam['calibrated_sensor_token'])
                stem = osp.splitext(osp.basename(cam['filename']))[0]
                jobs.append(dict(
                    split=split, cam=cam_name, sample_token=sample['token'], sample_data_token=cam['token'],
                    timestamp=cam['timestamp'], height=cam['height'], width=cam['width'],
                    img_path=cam['filename'], lidar_path=lidar['filename'],
                    depth_path=f'depth/{cam_name}/{stem}.png', root=nusc.dataroot, out_dir=out_dir,
                    depth_downsample=depth_downsample,
                    intrinsic=np.array(cam_calib['camera_intrinsic'], dtype=np.float64),
                    lidar_to_cam=lidar_to_camera(lidar_calib, lidar_pose,
                                                 nusc.get('ego_pose', cam['ego_pose_token']), cam_calib)))
            token = sample['next']
    return jobs


def load_points(path):
    """(N, 3) float32 x, y, z of a nuScenes ``.pcd.bin`` (N x 5 float32), with clear errors."""
    if not osp.isfile(path):
        raise ConversionError(f'missing point cloud: {path}')
    size = osp.getsize(path)
    if size == 0:
        raise ConversionError(f'empty sweep (0 bytes): {path}')
    if size % (5 * 4):
        raise ConversionError(f'corrupt point cloud: {path} has {size} bytes, not a multiple of 20 '
                              '(5 float32 per point)')
    return np.fromfile(path, dtype=np.float32).reshape(-1, 5)[:, :3]


def check_image(path):
    if not osp.isfile(path):
        raise ConversionError(f'missing image: {path}')
    try:
        with Image.open(path) as image:
            image.verify()
    except Exception as error:  # PIL raises several types for broken files
        raise ConversionError(f'corrupt image: {path} ({error})') from error


def block_nearest(depth, factor):
    """Reduce a sparse depth map by ``factor``, keeping the nearest valid depth of each block."""
    if factor == 1:
        return depth
    height, width = depth.shape
    if height % factor or width % factor:
        raise ConversionError(f'image size {height}x{width} is not divisible by depth_downsample={factor}')
    blocks = np.where(depth > 0, depth, np.inf).reshape(height // factor, factor, width // factor, factor)
    nearest = blocks.min(axis=(1, 3))
    return np.where(np.isfinite(nearest), nearest, 0).astype(np.float32)


def png_is_valid(path, shape):
    depth = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    return depth is not None and depth.dtype == np.uint16 and depth.shape == shape


def convert_image(job, completion='fast', max_depth=100.0):
    """Depth PNG of one camera image. Returns ``('done' | 'skipped', entry, n_nonfinite)``."""
    factor = job['depth_downsample']
    shape = (job['height'] // factor, job['width'] // factor)
    out_path = osp.join(job['out_dir'], job['depth_path'])
    entry = {k: job[k] for k in ('img_path', 'depth_path', 'cam', 'sample_token', 'sample_data_token',
                                 'timestamp', 'height', 'width')}
    if osp.isfile(out_path) and png_is_valid(out_path, shape):
        return 'skipped', entry, 0
    check_image(osp.join(job['root'], job['img_path']))
    lidar_path = osp.join(job['root'], job['lidar_path'])
    sparse = sparse_depth_map(load_points(lidar_path), job['lidar_to_cam'], job['intrinsic'],
                              (job['height'], job['width']), max_depth=max_depth)
    if sparse.num_projected == 0:
        raise ConversionError(f"no LiDAR point of {lidar_path} projects into {job['cam']} "
                              f"({job['img_path']})")
    dense = COMPLETION[completion](block_nearest(sparse.depth, factor), max_depth=max_depth)
    try:
        write_png_atomic(out_path, np.round(np.clip(dense, 0, 65535 / DEPTH_SCALE) * DEPTH_SCALE)
                         .astype(np.uint16))
    except ValueError as error:
        raise ConversionError(str(error)) from error
    return 'done', entry, sparse.num_nonfinite


def _run_job(args):
    job, completion, max_depth = args
    try:
        return convert_image(job, completion, max_depth)
    except ConversionError as error:
        return 'failed', job, str(error)


def create_pretrain_infos(root, version, out_dir=None, workers=4, depth_downsample=2, completion='fast',
                          max_depth=100.0, skip_errors=False, progress=True):
    """Convert a nuScenes root; returns the report dict (also written as ``s3pt_create_data_report.json``).

    Writes ``<out_dir>/depth/<CAM>/<image>.png`` and ``<out_dir>/s3pt_infos_pretrain_<split>.pkl``
    (``train``/``val``; ``mini_train``/``mini_val`` are written as ``train``/``val`` too).

    Raises:
        ConversionError: an image failed and ``skip_errors`` is False (nothing is written for it and no
            info file is written).
    """
    from nuscenes.nuscenes import NuScenes
    if completion not in COMPLETION:
        raise ValueError(f'completion must be one of {sorted(COMPLETION)}, got {completion!r}')
    check_dataroot(root, version)
    out_dir = out_dir or root
    nusc = NuScenes(version=version, dataroot=root, verbose=False)
    jobs = build_jobs(nusc, version, out_dir, depth_downsample)
    counts, reasons, nonfinite = Counter(), Counter(), 0
    entries = [None] * len(jobs)
    tasks = [(job, completion, max_depth) for job in jobs]
    pool = Pool(workers) if workers > 0 else None
    try:
        results = pool.imap(_run_job, tasks, chunksize=4) if pool else map(_run_job, tasks)
        for index, (status, payload, extra) in enumerate(
                tqdm(results, total=len(jobs), desc='depth maps', disable=not progress)):
            counts[status] += 1
            if status == 'failed':
                if not skip_errors:
                    raise ConversionError(f'{extra} (use --skip-errors to skip such images)')
                reasons[extra.split(':')[0]] += 1
                continue
            entries[index] = payload
            nonfinite += extra
    finally:
        if pool:
            pool.terminate()
            pool.join()

    metainfo = dict(dataset='nuscenes', version=version, depth_scale=DEPTH_SCALE,
                    depth_downsample=depth_downsample, depth_completion=f'ip_basic_{completion}',
                    max_depth=max_depth, cameras=list(CAMERAS))
    info_files = {}
    for split in SPLITS[version]:
        name = split.replace('mini_', '')
        data_list = [e for e, job in zip(entries, jobs) if e is not None and job['split'] == split]
        path = osp.join(out_dir, f's3pt_infos_pretrain_{name}.pkl')
        dump_pickle_atomic(path, dict(metainfo=dict(metainfo, split=split), data_list=data_list))
        info_files[name] = dict(path=path, images=len(data_list))
    report = dict(images=len(jobs), done=counts['done'], skipped=counts['skipped'],
                  failed=counts['failed'], failure_reasons=dict(reasons),
                  nonfinite_points_dropped=nonfinite, info_files=info_files, metainfo=metainfo)
    write_json_atomic(osp.join(out_dir, 's3pt_create_data_report.json'), report)
    return report
