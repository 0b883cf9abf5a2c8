"""Camera images by ray casting: Lambertian shading under a sun, sky gradient and distance haze.

Besides the RGB image the renderer returns, per pixel, the camera-frame depth, the index of the
annotated object seen there, and whether the pixel shows driveable road, plus the amodal pixel coverage
of every object (occlusion ignored) used for nuScenes visibility levels and nuImages amodal boxes.
"""
from dataclasses import dataclass
from pathlib import Path
from typing import Dict

import numpy as np

from ..utils.fileio import write_jpeg_atomic
from .materials import DRIVEABLE, ground_albedo, ground_material, part_albedo
from .raycast import GROUND, cast_rays
from .sensors import Camera
from .world import World

SKY_HORIZON = np.array([0.78, 0.84, 0.90])
SKY_ZENITH = np.array([0.42, 0.60, 0.85])
AMBIENT, DIFFUSE = 0.45, 0.65
HAZE_DISTANCE = 300.0  # metres for a 1/e loss of contrast.
JPEG_QUALITY = 92


@dataclass
class CameraFrame:
    """A rendered camera image and its per-pixel ground truth, all (height, width)."""

    image: np.ndarray  # uint8 RGB (H, W, 3)
    depth: np.ndarray  # float32, z in the camera frame [m], inf for sky
    owner: np.ndarray  # int32 object index, -1 for scenery, ground and sky
    driveable: np.ndarray  # bool, road surface including lane markings
    coverage: Dict[int, np.ndarray]  # object index -> flat pixel indices it covers, occlusion ignored


def render_camera(world: World, t: float, camera: Camera) -> CameraFrame:
    """Render ``camera`` on the ego vehicle at time ``t`` (seconds from the scene start)."""
    global_from_camera = world.ego_pose(t) @ camera.ego_from_sensor
    rotation = global_from_camera.rotation
    dirs = camera.pixel_dirs @ rotation.T
    hits = cast_rays(world.render_groups(t), global_from_camera.translation, dirs,
                     cone=(rotation[:, 2], camera.half_angle))
    colour = SKY_HORIZON + (SKY_ZENITH - SKY_HORIZON) * np.clip(dirs[:, 2:3] * 3.0, 0.0, 1.0)
    driveable = np.zeros(len(dirs), dtype=bool)
    surface = np.isfinite(hits.distance)
    albedo = np.zeros((len(dirs), 3))
    on_part = np.flatnonzero(hits.part >= 0)
    if on_part.size:
        albedo[on_part] = part_albedo(hits, on_part)
    on_ground = hits.part == GROUND
    material = ground_material(world, hits.local[on_ground])
    albedo[on_ground] = ground_albedo(world, hits.local[on_ground], material)
    driveable[on_ground] = np.isin(material, DRIVEABLE)
    light = AMBIENT + DIFFUSE * np.clip(hits.normal[surface] @ world.sun, 0.0, None)
    haze = np.exp(-hits.distance[surface] / HAZE_DISTANCE)[:, None]
    colour[surface] = albedo[surface] * light[:, None] * haze + SKY_HORIZON * (1.0 - haze)
    shape = (camera.height, camera.width)
    image = np.clip(np.round(colour * 255.0), 0, 255).astype(np.uint8).reshape(shape + (3,))
    depth = (hits.distance * camera.pixel_dirs[:, 2]).astype(np.float32).reshape(shape)
    return CameraFrame(image, depth, hits.owner.astype(np.int32).reshape(shape), driveable.reshape(shape),
                       hits.coverage)


def write_camera_image(path: Path, frame: CameraFrame) -> None:
    """Save the RGB image of ``frame`` as the JPEG file of the datasets (written atomically)."""
    write_jpeg_atomic(str(path), frame.image[..., ::-1], JPEG_QUALITY)
