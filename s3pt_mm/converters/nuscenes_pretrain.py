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

With ``image_scale`` < 1 (``--image-scale 0.5``), a copy of every camera image resized by that factor (PIL's
anti-aliased bicubic, the filter of the training crops; JPEG quality 95) is written to
``scaled_<scale>/<image path>`` beside the depth maps, and the infos point to it: for clusters short of CPU
cores, whose data-loader workers then decode a quarter of the pixels (docs/data_pipeline.md). The depth maps
are the same (made at the original resolution); ``image_scale * depth_downsample`` must be an integer, the
factor between the stored image and its depth map (1 for 0.5 and 2: both 450x800 for a 900x1600 camera).

Images and point clouds are read through ``mmengine.fileio`` with ``backend_args`` (e.g.
``dict(backend='petrel', path_mapping=...)`` for data in object storage); the devkit reads the tables from
the local dataroot, and the outputs are written locally.

Work is split in per-image jobs of plain data, run by a pool of worker processes. Each PNG is written
atomically (temporary file + rename) and an image whose PNG already exists and reads back correctly is
skipped, so an interrupted run resumes where it stopped. Infos and the report are written at the end,
atomically too.
"""
import io
import os.path as osp
from collections import Counter, defaultdict
from multiprocessing import Pool
from typing import Optional, Tuple

import cv2
import numpy as np
from mmengine import fileio
from PIL import Image
from tqdm import tqdm

from ..depth import fill_in_fast, fill_in_multiscale, lidar_to_camera, sparse_depth_map
from ..utils.fileio import dump_pickle_atomic, write_jpeg_atomic, write_json_atomic, write_png_atomic
from ..utils.nuscenes_constants import CAMERAS, NUSCENES_SPLITS, NUSCENES_TABLES, check_dataroot

DEPTH_SCALE = 256.0
COMPLETION = dict(fast=fill_in_fast, multiscale=fill_in_multiscale)


class ConversionError(RuntimeError):
    """An image that cannot be converted. ``kind`` is the problem, one of a fixed set of short phrases
    (``'missing image'``, ``'corrupt point cloud'``, ...: the groups of the failure report); the message is
    ``'<kind>: <detail>'``, the detail naming the file."""

    def __init__(self, kind: str, detail: str):
        super().__init__(f'{kind}: {detail}')
        self.kind = kind
        self.detail = detail


def build_jobs(nusc, version: str, out_dir: str, depth_downsample: int,
               backend_args: Optional[dict] = None, image_scale: float = 1.0) -> list:
    """Per-image jobs (plain dicts) for every camera image of the version's splits, in a fixed order."""
    from nuscenes.utils.splits import create_splits_scenes
    split_scenes = create_splits_scenes()
    scene_split = {name: split for split in NUSCENES_SPLITS[version] for name in split_scenes[split]}
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
                    depth_downsample=depth_downsample, backend_args=backend_args, image_scale=image_scale,
                    intrinsic=np.array(cam_calib['camera_intrinsic'], dtype=np.float64),
                    lidar_to_cam=lidar_to_camera(lidar_calib, lidar_pose,
                                                 nusc.get('ego_pose', cam['ego_pose_token']), cam_calib)))
            token = sample['next']
    return jobs


def load_points(path: str, backend_args: Optional[dict] = None) -> np.ndarray:
    """(N, 3) float32 x, y, z of a nuScenes ``.pcd.bin`` (N x 5 float32), read through ``mmengine.fileio``,
    with clear errors."""
    try:
        data = fileio.get(path, backend_args=backend_args)
    except FileNotFoundError:
        raise ConversionError('missing point cloud', path)
    if not data:
        raise ConversionError('empty sweep', f'{path} (0 bytes)')
    if len(data) % (5 * 4):
        raise ConversionError('corrupt point cloud', f'{path} has {len(data)} bytes, not a multiple of 20 '
                              '(5 float32 per point)')
    return np.frombuffer(data, dtype=np.float32).reshape(-1, 5)[:, :3]


def check_image(path: str, backend_args: Optional[dict] = None) -> bytes:
    """The bytes of ``path`` (read through ``mmengine.fileio``); :class:`ConversionError` unless it is a
    complete image."""
    try:
        data = fileio.get(path, backend_args=backend_args)
    except FileNotFoundError:
        raise ConversionError('missing image', path)
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
    except Exception as error:  # PIL raises several types for broken files
        raise ConversionError('corrupt image', f'{path} ({error})') from error
    return data


def scaled_size(height: int, width: int, scale: float) -> Tuple[int, int]:
    """(height, width) times ``scale``; :class:`ConversionError` unless both are whole pixels."""
    size = (height * scale, width * scale)
    if any(abs(side - round(side)) > 1e-6 for side in size):
        raise ConversionError('image size not divisible by 1 / image_scale',
                              f'{height}x{width}, image_scale={scale:g}')
    return int(round(size[0])), int(round(size[1]))


def write_scaled_image(data: bytes, path: str, size: Tuple[int, int]) -> None:
    """Resize the image ``data`` to ``size`` = (height, width) with PIL's anti-aliased bicubic filter and write
    it to ``path`` as a JPEG of quality 95, atomically."""
    with Image.open(io.BytesIO(data)) as image:
        rgb = np.asarray(image.convert('RGB').resize(size[::-1], Image.Resampling.BICUBIC))
    try:
        write_jpeg_atomic(path, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), quality=95)
    except ValueError as error:
        raise ConversionError('scaled image not written', str(error)) from error


def image_is_valid(path: str, size: Tuple[int, int]) -> bool:
    try:
        with Image.open(path) as image:
            return image.size == size[::-1]
    except OSError:
        return False


def block_nearest(depth: np.ndarray, factor: int) -> np.ndarray:
    """Reduce a sparse depth map by ``factor``, keeping the nearest valid depth of each block."""
    if factor == 1:
        return depth
    height, width = depth.shape
    if height % factor or width % factor:
        raise ConversionError('image size not divisible by depth_downsample',
                              f'{height}x{width}, depth_downsample={factor}')
    blocks = np.where(depth > 0, depth, np.inf).reshape(height // factor, factor, width // factor, factor)
    nearest = blocks.min(axis=(1, 3))
    return np.where(np.isfinite(nearest), nearest, 0).astype(np.float32)


def png_is_valid(path: str, shape: Tuple[int, int]) -> bool:
    depth = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    return depth is not None and depth.dtype == np.uint16 and depth.shape == shape


def convert_image(job: dict, completion: str = 'fast', max_depth: float = 100.0) -> tuple:
    """Depth PNG of one camera image. Returns ``('done' | 'skipped', entry, n_nonfinite)``."""
    factor = job['depth_downsample']
    shape = (job['height'] // factor, job['width'] // factor)
    out_path = osp.join(job['out_dir'], job['depth_path'])
    entry = {k: job[k] for k in ('img_path', 'depth_path', 'cam', 'sample_token', 'sample_data_token',
                                 'timestamp', 'height', 'width')}
    scaled = None
    if job['image_scale'] != 1:
        entry['img_path'] = f"scaled_{job['image_scale']:g}/{job['img_path']}"
        entry['height'], entry['width'] = size = scaled_size(job['height'], job['width'], job['image_scale'])
        scaled = osp.join(job['out_dir'], entry['img_path'])
    if osp.isfile(out_path) and png_is_valid(out_path, shape) and (scaled is None or image_is_valid(scaled, size)):
        return 'skipped', entry, 0
    data = check_image(osp.join(job['root'], job['img_path']), job['backend_args'])
    if scaled is not None:
        write_scaled_image(data, scaled, size)
    lidar_path = osp.join(job['root'], job['lidar_path'])
    sparse = sparse_depth_map(load_points(lidar_path, job['backend_args']), job['lidar_to_cam'], job['intrinsic'],
                              (job['height'], job['width']), max_depth=max_depth)
    if sparse.num_projected == 0:
        raise ConversionError('no LiDAR point in the image',
                              f"{lidar_path} projects no point into {job['cam']} ({job['img_path']})")
    dense = COMPLETION[completion](block_nearest(sparse.depth, factor), max_depth=max_depth)
    try:
        write_png_atomic(out_path, np.round(np.clip(dense, 0, 65535 / DEPTH_SCALE) * DEPTH_SCALE)
                         .astype(np.uint16))
    except ValueError as error:
        raise ConversionError('depth map not written', str(error)) from error
    return 'done', entry, sparse.num_nonfinite


def _run_job(args):
    job, completion, max_depth = args
    try:
        return convert_image(job, completion, max_depth)
    except ConversionError as error:  # plain data back from the worker process
        return 'failed', job, (error.kind, error.detail)


def create_pretrain_infos(root: str, version: str, out_dir: Optional[str] = None, workers: int = 4,
                          depth_downsample: int = 2, completion: str = 'fast', max_depth: float = 100.0,
                          skip_errors: bool = False, progress: bool = True,
                          backend_args: Optional[dict] = None, image_scale: float = 1.0) -> dict:
    """Convert a nuScenes root; returns the report dict (also written as ``s3pt_create_data_report.json``).

    Writes ``<out_dir>/depth/<CAM>/<image>.png`` and ``<out_dir>/s3pt_infos_pretrain_<split>.pkl``
    (``train``/``val``; ``mini_train``/``mini_val`` are written as ``train``/``val`` too), and with
    ``image_scale`` < 1 the resized images ``<out_dir>/scaled_<scale>/<image path>``. The images and
    point clouds under ``root`` are read through ``mmengine.fileio`` with ``backend_args``. With
    ``skip_errors``, the report groups the failed images by kind of problem (:class:`ConversionError`):
    ``failure_reasons`` counts them, ``failed_images`` lists their image paths.

    Raises:
        ConversionError: an image failed and ``skip_errors`` is False (nothing is written for it and no
            info file is written).
    """
    from nuscenes.nuscenes import NuScenes
    if completion not in COMPLETION:
        raise ValueError(f'completion must be one of {sorted(COMPLETION)}, got {completion!r}')
    depth_factor = image_scale * depth_downsample
    if not 0 < image_scale <= 1 or abs(depth_factor - round(depth_factor)) > 1e-9:
        raise ValueError(f'image_scale must be in (0, 1] with image_scale * depth_downsample an integer (the '
                         f'stored image over its depth map), got {image_scale:g} x {depth_downsample}')
    check_dataroot(root, version, NUSCENES_SPLITS, NUSCENES_TABLES, 'nuScenes root')
    out_dir = out_dir or root
    nusc = NuScenes(version=version, dataroot=root, verbose=False)
    jobs = build_jobs(nusc, version, out_dir, depth_downsample, backend_args, image_scale)
    counts, failed_images, nonfinite = Counter(), defaultdict(list), 0
    entries = [None] * len(jobs)
    tasks = [(job, completion, max_depth) for job in jobs]
    pool = Pool(workers) if workers > 0 else None
    try:
        results = pool.imap(_run_job, tasks, chunksize=4) if pool else map(_run_job, tasks)
        for index, (status, payload, extra) in enumerate(
                tqdm(results, total=len(jobs), desc='depth maps', disable=not progress)):
            counts[status] += 1
            if status == 'failed':
                kind, detail = extra
                if not skip_errors:
                    raise ConversionError(kind, f'{detail} (use --skip-errors to skip such images)')
                failed_images[kind].append(payload['img_path'])
                continue
            entries[index] = payload
            nonfinite += extra
    finally:
        if pool:
            pool.terminate()
            pool.join()

    metainfo = dict(dataset='nuscenes', version=version, depth_scale=DEPTH_SCALE,
                    depth_downsample=depth_downsample, depth_completion=f'ip_basic_{completion}',
                    max_depth=max_depth, cameras=list(CAMERAS), image_scale=image_scale)
    info_files = {}
    for split in NUSCENES_SPLITS[version]:
        name = split.replace('mini_', '')
        data_list = [e for e, job in zip(entries, jobs) if e is not None and job['split'] == split]
        path = osp.join(out_dir, f's3pt_infos_pretrain_{name}.pkl')
        dump_pickle_atomic(path, dict(metainfo=dict(metainfo, split=split), data_list=data_list))
        info_files[name] = dict(path=path, images=len(data_list))
    report = dict(images=len(jobs), done=counts['done'], skipped=counts['skipped'],
                  failed=counts['failed'],
                  failure_reasons={kind: len(images) for kind, images in failed_images.items()},
                  failed_images=dict(failed_images),
                  nonfinite_points_dropped=nonfinite, info_files=info_files, metainfo=metainfo)
    write_json_atomic(osp.join(out_dir, 's3pt_create_data_report.json'), report)
    return report
