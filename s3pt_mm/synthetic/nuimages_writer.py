"""Write logs in the nuImages v1.0 format: tables, keyframe JPEGs and RLE instance / surface masks.

Layout under ``root`` (the ``dataroot`` of ``nuimages.NuImages``)::

    v1.0-mini/<table>.json      all logs
    v1.0-train/<table>.json     logs whose index % 4 != 1
    v1.0-val/<table>.json       logs whose index % 4 == 1 (log 1 is always there when >= 2 logs)
    samples/CAM_*/<log>__CAM_*__<timestamp>.jpg

Tables: attribute, calibrated_sensor, category, ego_pose, log, object_ann, sample, sample_data, sensor,
surface_ann. Every sample is one keyframe image (no sweeps, so prev/next are empty). ``object_ann``
holds the visible (modal) instance mask and the amodal box ``[xmin, ymin, xmax, ymax]`` in pixel-edge
coordinates (``xmax`` exclusive), ``surface_ann`` the ``flat.driveable_surface`` mask. Masks are
pycocotools RLEs whose ``counts`` bytes are base64 encoded, as ``nuimages.utils.utils.mask_decode``
expects. Cameras are ideal pinholes, so ``camera_distortion`` is zero.
"""
import base64
from collections import defaultdict
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
from pycocotools import mask as coco_mask

from ..utils.nuscenes_constants import CAMERAS
from .plan import ScenePlan
from .render import CameraFrame, render_camera, write_camera_image
from .tables import make_token, write_table
from .taxonomy import NUIMAGES_CATEGORIES, NUIMAGES_CLASS_INDEX, NUIMAGES_EXTRA_ATTRIBUTES, NUSCENES_ATTRIBUTES
from .world import World

DRIVEABLE = 'flat.driveable_surface'
VERSIONS: Dict[str, Callable[[int], bool]] = {
    'v1.0-mini': lambda index: True,
    'v1.0-train': lambda index: index % 4 != 1,
    'v1.0-val': lambda index: index % 4 == 1,
}


def encode_mask(mask: np.ndarray) -> dict:
    """nuImages mask record of a boolean (H, W) mask: ``{'size': [H, W], 'counts': <base64 RLE>}``."""
    rle = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {'size': [int(v) for v in rle['size']], 'counts': base64.b64encode(rle['counts']).decode('ascii')}


def semantic_map(frame: CameraFrame, world: World) -> np.ndarray:
    """Per-pixel nuImages class ids (int32 (H, W)) of a rendered frame, as ``NuImages.get_segmentation``
    reconstructs them from the masks: objects over the driveable surface over background 0."""
    lut = np.array([NUIMAGES_CLASS_INDEX[obj.category] for obj in world.objects] + [0], dtype=np.int32)
    semantic = np.where(frame.driveable, NUIMAGES_CLASS_INDEX[DRIVEABLE], 0).astype(np.int32)
    return np.where(frame.owner >= 0, lut[frame.owner], semantic)


def sample_data_token(seed: int, plan: ScenePlan, k: int) -> str:
    """Token of the keyframe image of sample ``k`` of a nuImages log."""
    return make_token('nuimages', seed, 'sample_data', plan.index, k)


def _amodal_box(pixels: np.ndarray, width: int) -> List[int]:
    rows, cols = np.divmod(pixels, width)
    return [int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1]


class _Tables:
    """Rows of every table, each tagged with the log index it belongs to (None: shared by all logs)."""

    def __init__(self, seed: int):
        self.seed = seed
        self.rows: Dict[str, List[Tuple[Optional[int], dict]]] = defaultdict(list)
        self.rows['category'] = [(None, {'token': self.token('category', name), 'name': name, 'description': text})
                                 for name, text in NUIMAGES_CATEGORIES.items()]
        self.rows['attribute'] = [(None, {'token': self.token('attribute', name), 'name': name, 'description': text})
                                  for name, text in dict(NUSCENES_ATTRIBUTES, **NUIMAGES_EXTRA_ATTRIBUTES).items()]
        self.rows['sensor'] = [(None, {'token': self.token('sensor', c), 'channel': c, 'modality': 'camera'})
                               for c in CAMERAS]

    def token(self, *keys) -> str:
        return make_token('nuimages', self.seed, *keys)

    def add(self, table: str, log_index: int, record: dict) -> None:
        self.rows[table].append((log_index, record))

    def write(self, root: Path) -> None:
        for version, selected in VERSIONS.items():
            for table, rows in sorted(self.rows.items()):
                write_table(root / version, table, [r for i, r in rows if i is None or selected(i)])


def _write_log(root: Path, tables: _Tables, plan: ScenePlan, tick: Callable[[], None]) -> None:
    token, world, i = tables.token, plan.world, plan.index
    log_token = token('log', i)
    tables.add('log', i, {'token': log_token, 'logfile': plan.logfile, 'vehicle': plan.vehicle,
                          'date_captured': plan.date_captured, 'location': plan.location})
    used_cameras = {plan.shot_camera(k).channel for k in range(len(plan.times))}
    for camera in plan.cameras:
        if camera.channel in used_cameras:
            tables.add('calibrated_sensor', i, {
                'token': token('calibrated_sensor', i, camera.channel), 'sensor_token': token('sensor', camera.channel),
                'translation': camera.ego_from_sensor.translation.tolist(),
                'rotation': camera.ego_from_sensor.quaternion.tolist(),
                'camera_intrinsic': camera.intrinsic.tolist(), 'camera_distortion': [0.0] * 5})
    for k, t in enumerate(plan.times):
        camera, timestamp = plan.shot_camera(k), plan.timestamp(k)
        frame = render_camera(world, t, camera)
        filename = f'samples/{camera.channel}/{plan.logfile}__{camera.channel}__{timestamp}.jpg'
        write_camera_image(root / filename, frame)
        sd_token = sample_data_token(tables.seed, plan, k)
        sample_token, ego_token = token('sample', i, k), token('ego_pose', i, k)
        ego = world.ego_pose(t)
        tables.add('ego_pose', i, {
            'token': ego_token, 'translation': ego.translation.tolist(), 'rotation': ego.quaternion.tolist(),
            'timestamp': timestamp, 'rotation_rate': [0.0, 0.0, 0.0], 'acceleration': [0.0, 0.0, 9.81],
            'speed': world.ego_speed})
        tables.add('sample', i, {'token': sample_token, 'timestamp': timestamp, 'log_token': log_token,
                                 'key_camera_token': sd_token})
        tables.add('sample_data', i, {
            'token': sd_token, 'sample_token': sample_token, 'ego_pose_token': ego_token,
            'calibrated_sensor_token': token('calibrated_sensor', i, camera.channel), 'filename': filename,
            'fileformat': 'jpg', 'width': camera.width, 'height': camera.height, 'timestamp': timestamp,
            'is_key_frame': True, 'next': '', 'prev': ''})
        for owner in np.unique(frame.owner[frame.owner >= 0]):
            obj = world.objects[owner]
            tables.add('object_ann', i, {
                'token': token('object_ann', i, k, int(owner)), 'sample_data_token': sd_token,
                'category_token': token('category', obj.category),
                'attribute_tokens': [token('attribute', obj.attribute)] if obj.attribute else [],
                'bbox': _amodal_box(frame.coverage[int(owner)], camera.width),
                'mask': encode_mask(frame.owner == owner)})
        if frame.driveable.any():
            tables.add('surface_ann', i, {'token': token('surface_ann', i, k), 'sample_data_token': sd_token,
                                          'category_token': token('category', DRIVEABLE),
                                          'mask': encode_mask(frame.driveable)})
        tick()


def write_nuimages(root: Path, plans: List[ScenePlan], seed: int, tick: Callable[[], None] = lambda: None) -> None:
    """Render and write all ``plans`` (one log each) as nuImages under ``root``; ``tick`` per image."""
    tables = _Tables(seed)
    for plan in plans:
        _write_log(root, tables, plan, tick)
    tables.write(root)
