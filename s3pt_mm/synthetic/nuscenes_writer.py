"""Write scenes in the nuScenes v1.0 format (tables, keyframe camera JPEGs, LIDAR_TOP .pcd.bin, maps).

Layout under ``root`` (the ``dataroot`` of ``nuscenes.NuScenes``)::

    <version>/<table>.json       attribute, calibrated_sensor, category, ego_pose, instance, log, map,
                                 sample, sample_annotation, sample_data, scene, sensor, visibility
    samples/CAM_*/<log>__CAM_*__<timestamp>.jpg
    samples/LIDAR_TOP/<log>__LIDAR_TOP__<timestamp>.pcd.bin
    maps/<map token>.png         drivable-area mask per location, 0.1 m per pixel, global frame

where ``<version>`` is ``v1.0-mini`` or ``v1.0-trainval`` (:attr:`~.plan.SyntheticConfig.nuscenes_version`).

Conventions as in nuScenes: timestamps in microseconds; ego poses and annotations in the global frame
(annotation ``translation`` is the box centre, ``size`` is (w, l, h), ``rotation`` a [w, x, y, z]
quaternion); every sample_data has its own ego_pose whose token equals the sample_data token;
visibility tokens are '1'..'4'. All sensors of a keyframe share the sample timestamp; there are no
sweeps and no radars (``num_radar_pts`` is 0). Object geometry stays 1 cm inside its box and boxes
float 2 cm above the ground, so ``num_lidar_pts`` (the LIDAR_TOP returns on the object) equals what
``nuscenes.utils.geometry_utils.points_in_box`` counts. Objects are annotated while within 70 m of the
ego vehicle. Only keyframes exist, so sample_data prev/next link the keyframes of a channel.
"""
from collections import defaultdict
from pathlib import Path
from typing import Callable, Dict, List

import cv2
import numpy as np

from ..utils.fileio import write_png_atomic
from ..utils.nuscenes_constants import CAMERAS
from .plan import SCENE_SPACING, ScenePlan
from .render import render_camera, write_camera_image
from .sensors import scan_lidar
from .tables import make_token, write_table
from .taxonomy import LIDAR_CHANNEL, NUSCENES_ATTRIBUTES, NUSCENES_CATEGORIES, VISIBILITY_LEVELS
from .world import ROAD_HALF_WIDTH, ROAD_X_RANGE

MAP_RESOLUTION = 0.1  # metres per map pixel, the devkit's native map resolution.


def _visibility_token(visible_pixels: int, amodal_pixels: int) -> str:
    """nuScenes visibility bin ('1': <= 40 %, ..., '4': > 80 %) of the object's visible pixel fraction in
    the six cameras (visible pixels over the pixels it would cover without occlusion)."""
    fraction = visible_pixels / amodal_pixels if amodal_pixels else 0.0
    return VISIBILITY_LEVELS[int(np.searchsorted([0.4, 0.6, 0.8], fraction))][0]


def _describe(plan: ScenePlan) -> str:
    """Scene description from its content, e.g. 'Synthetic street, ego 6.1 m/s, 9 car, 4 pedestrian, ...'."""
    counts = defaultdict(int)
    for obj in plan.world.objects:
        counts[obj.category.split('.')[1]] += 1
    content = ', '.join(f'{n} {name}' for name, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    return f'Synthetic street, ego {plan.world.ego_speed:.1f} m/s, {content}'


def nuscenes_sample_data_token(seed: int, plan: ScenePlan, k: int, channel: str) -> str:
    """Token of the ``channel`` sample_data (a camera image or the LiDAR sweep) of keyframe ``k`` of a scene."""
    return make_token('nuscenes', seed, 'sample_data', plan.index, k, channel)


def _link(records: List[dict]) -> None:
    """Fill the prev / next tokens of a time-ordered list of records."""
    for i, record in enumerate(records):
        record['prev'] = records[i - 1]['token'] if i > 0 else ''
        record['next'] = records[i + 1]['token'] if i + 1 < len(records) else ''


def _write_map(path: Path, plans: List[ScenePlan]) -> None:
    """Drivable-area mask (255 on the road) of all scenes of one location, in the global frame.

    Pixel (row, col) covers global (x, y) = (col, height - row) * resolution, as ``MapMask`` expects.
    """
    width_m = SCENE_SPACING * (1 + max(p.map_slot for p in plans))
    shape = (int(SCENE_SPACING / MAP_RESOLUTION), int(width_m / MAP_RESOLUTION))
    mask = np.zeros(shape, dtype=np.uint8)
    x0, x1 = ROAD_X_RANGE
    corners = np.array([[x0, -ROAD_HALF_WIDTH, 0], [x1, -ROAD_HALF_WIDTH, 0], [x1, ROAD_HALF_WIDTH, 0],
                        [x0, ROAD_HALF_WIDTH, 0]])
    for plan in plans:
        xy = plan.world.global_from_road.apply(corners)[:, :2] / MAP_RESOLUTION
        polygon = np.stack([xy[:, 0], shape[0] - xy[:, 1]], axis=1)
        cv2.fillPoly(mask, [np.round(polygon).astype(np.int32)], 255)
    write_png_atomic(str(path), mask)


class _Tables:
    """The nuScenes tables being filled, with the static vocabulary tables pre-built."""

    def __init__(self, seed: int):
        self.seed = seed
        self.rows: Dict[str, List[dict]] = defaultdict(list)
        self.rows['category'] = [
            {'token': self.token('category', name), 'name': name, 'description': text, 'index': index}
            for index, (name, text) in enumerate(NUSCENES_CATEGORIES.items(), start=1)]
        self.rows['attribute'] = [{'token': self.token('attribute', name), 'name': name, 'description': text}
                                  for name, text in NUSCENES_ATTRIBUTES.items()]
        self.rows['visibility'] = [{'token': token, 'level': level, 'description': text}
                                   for token, level, text in VISIBILITY_LEVELS]
        self.rows['sensor'] = [
            {'token': self.token('sensor', channel), 'channel': channel, 'modality': modality}
            for channel, modality in [(c, 'camera') for c in CAMERAS] + [(LIDAR_CHANNEL, 'lidar')]]

    def token(self, *keys) -> str:
        return make_token('nuscenes', self.seed, *keys)


def _write_scene(root: Path, tables: _Tables, plan: ScenePlan, tick: Callable[[], None]) -> None:
    rows, token = tables.rows, tables.token
    log_token = token('log', plan.index)
    rows['log'].append({'token': log_token, 'logfile': plan.logfile, 'vehicle': plan.vehicle,
                        'date_captured': plan.date_captured, 'location': plan.location})
    calibrated = {}
    for channel, sensor in [(c.channel, c) for c in plan.cameras] + [(LIDAR_CHANNEL, plan.lidar)]:
        calibrated[channel] = token('calibrated_sensor', plan.index, channel)
        rows['calibrated_sensor'].append({
            'token': calibrated[channel], 'sensor_token': token('sensor', channel),
            'translation': sensor.ego_from_sensor.translation.tolist(),
            'rotation': sensor.ego_from_sensor.quaternion.tolist(),
            'camera_intrinsic': sensor.intrinsic.tolist() if channel != LIDAR_CHANNEL else []})

    world, num_objects = plan.world, len(plan.world.objects)
    samples, sample_data = [], defaultdict(list)
    annotations: Dict[int, List[dict]] = defaultdict(list)
    for k, t in enumerate(plan.times):
        timestamp = plan.timestamp(k)
        sample_token = token('sample', plan.index, k)
        samples.append({'token': sample_token, 'timestamp': timestamp, 'scene_token': token('scene', plan.index)})
        ego = world.ego_pose(t)
        visible, amodal = np.zeros(num_objects, dtype=np.int64), np.zeros(num_objects, dtype=np.int64)
        files = []
        for camera in plan.cameras:
            frame = render_camera(world, t, camera)
            visible += np.bincount(frame.owner[frame.owner >= 0], minlength=num_objects)
            for owner, pixels in frame.coverage.items():
                amodal[owner] += pixels.size
            filename = f'samples/{camera.channel}/{plan.logfile}__{camera.channel}__{timestamp}.jpg'
            write_camera_image(root / filename, frame)
            files.append((camera.channel, filename, 'jpg', camera.height, camera.width))
        scan = scan_lidar(world, t, plan.lidar)
        filename = f'samples/{LIDAR_CHANNEL}/{plan.logfile}__{LIDAR_CHANNEL}__{timestamp}.pcd.bin'
        (root / filename).parent.mkdir(parents=True, exist_ok=True)
        scan.points.tofile(root / filename)
        files.append((LIDAR_CHANNEL, filename, 'pcd', 0, 0))
        for channel, filename, fileformat, height, width in files:
            sd_token = nuscenes_sample_data_token(tables.seed, plan, k, channel)
            rows['ego_pose'].append({'token': sd_token, 'translation': ego.translation.tolist(),
                                     'rotation': ego.quaternion.tolist(), 'timestamp': timestamp})
            sample_data[channel].append({
                'token': sd_token, 'sample_token': sample_token, 'ego_pose_token': sd_token,
                'calibrated_sensor_token': calibrated[channel], 'timestamp': timestamp, 'fileformat': fileformat,
                'is_key_frame': True, 'height': height, 'width': width, 'filename': filename})
        lidar_points = np.bincount(scan.owner[scan.owner >= 0], minlength=num_objects)
        for i, obj in enumerate(world.objects):
            if not world.annotated(i, t):
                continue
            pose = world.object_pose(i, t)
            annotations[i].append({
                'token': token('sample_annotation', plan.index, i, k), 'sample_token': sample_token,
                'instance_token': token('instance', plan.index, i),
                'visibility_token': _visibility_token(int(visible[i]), int(amodal[i])),
                'attribute_tokens': [token('attribute', obj.attribute)] if obj.attribute else [],
                'translation': pose.translation.tolist(), 'size': list(obj.size),
                'rotation': pose.quaternion.tolist(), 'num_lidar_pts': int(lidar_points[i]), 'num_radar_pts': 0})
        tick()
    _link(samples)
    rows['sample'] += samples
    for channel in CAMERAS + (LIDAR_CHANNEL,):
        _link(sample_data[channel])
        rows['sample_data'] += sample_data[channel]
    for i, anns in sorted(annotations.items()):
        _link(anns)
        rows['sample_annotation'] += anns
        rows['instance'].append({
            'token': token('instance', plan.index, i), 'category_token': token('category', world.objects[i].category),
            'nbr_annotations': len(anns), 'first_annotation_token': anns[0]['token'],
            'last_annotation_token': anns[-1]['token']})
    rows['scene'].append({
        'token': token('scene', plan.index), 'log_token': log_token, 'nbr_samples': len(samples),
        'first_sample_token': samples[0]['token'], 'last_sample_token': samples[-1]['token'], 'name': plan.name,
        'description': _describe(plan)})


def write_nuscenes(root: Path, plans: List[ScenePlan], seed: int, version: str,
                   tick: Callable[[], None] = lambda: None) -> None:
    """Render and write all ``plans`` as a nuScenes dataset of ``version`` (its tables in ``root/version``).

    ``tick`` is called once per written sample (6 images and a LiDAR sweep).
    """
    tables = _Tables(seed)
    for plan in plans:
        _write_scene(root, tables, plan, tick)
    by_location = defaultdict(list)
    for plan in plans:
        by_location[plan.location].append(plan)
    for location, location_plans in sorted(by_location.items()):
        map_token = tables.token('map', location)
        filename = f'maps/{map_token}.png'
        _write_map(root / filename, location_plans)
        tables.rows['map'].append({
            'token': map_token, 'category': 'semantic_prior', 'filename': filename,
            'log_tokens': [tables.token('log', p.index) for p in location_plans]})
    for name, records in sorted(tables.rows.items()):
        write_table(root / version, name, records)
