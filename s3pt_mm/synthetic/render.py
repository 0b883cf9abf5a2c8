"""Camera images by ray casting: Lambertian shading under a sun with cast shadows, sky gradient,
distance haze, exposure, vignetting and sensor noise, saved as JPEG.

Lighting, exposure, sky and noise level come from the scene's :class:`~.world.SceneLook`; the noise of
an image (and a small auto-exposure variation per image) is drawn from a generator seeded by the scene,
the time and the camera, so re-rendering a frame reproduces its pixels.

Besides the RGB image the renderer returns, per pixel, the camera-frame depth, the index of the
annotated object seen there, and whether the pixel shows driveable road, plus the amodal pixel coverage
of every object (occlusion ignored) used for nuScenes visibility levels and nuImages amodal boxes.
"""
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Dict

import numpy as np

from ..utils.fileio import write_jpeg_atomic
from .materials import DRIVEABLE, ground_albedo, ground_material, part_albedo
from .raycast import GROUND, cast_rays, in_shadow
from .sensors import Camera
from .world import World

HAZE_DISTANCE = 300.0  # metres for a 1/e loss of contrast.
#: JPEG quality of the camera images: visible compression artefacts, as in the nuScenes images.
JPEG_QUALITY = 85
#: Shadow rays start this far (metres) off the surface, along its normal.
SHADOW_LIFT = 0.02
#: Relative per-image exposure variation (auto exposure) and shot-noise factor.
EXPOSURE_JITTER, SHOT_NOISE = 0.08, 0.015


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
    rotation, look = global_from_camera.rotation, world.look
    dirs = camera.pixel_dirs @ rotation.T
    groups = world.render_groups(t)
    hits = cast_rays(groups, global_from_camera.translation, dirs, cone=(rotation[:, 2], camera.half_angle))
    horizon, zenith = np.array(look.sky_horizon), np.array(look.sky_zenith)
    colour = horizon + (zenith - horizon) * np.clip(dirs[:, 2:3] * 3.0, 0.0, 1.0)
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
    sunlit = np.clip(hits.normal @ world.sun, 0.0, None) * surface
    lit = np.flatnonzero(sunlit > 0)
    points = global_from_camera.translation + hits.distance[lit, None] * dirs[lit] + SHADOW_LIFT * hits.normal[lit]
    sunlit[lit[in_shadow(groups, points, world.sun)]] = 0.0
    light = look.ambient + look.sun_intensity * sunlit[surface]
    haze = np.exp(-hits.distance[surface] / HAZE_DISTANCE)[:, None]
    colour[surface] = albedo[surface] * light[:, None] * haze + horizon * (1.0 - haze)
    rng = np.random.default_rng([look.noise_seed, int(round(t * 1000)), zlib.crc32(camera.channel.encode())])
    exposure = look.exposure * (1.0 + rng.uniform(-EXPOSURE_JITTER, EXPOSURE_JITTER))
    colour = colour * exposure * camera.pixel_dirs[:, 2:3] ** 2  # Vignetting: cos^2 of the off-axis angle.
    colour += rng.normal(size=colour.shape) * (look.noise_sigma + SHOT_NOISE * np.sqrt(np.clip(colour, 0, None)))
    shape = (camera.height, camera.width)
    image = np.clip(np.round(colour * 255.0), 0, 255).astype(np.uint8).reshape(shape + (3,))
    depth = (hits.distance * camera.pixel_dirs[:, 2]).astype(np.float32).reshape(shape)
    return CameraFrame(image, depth, hits.owner.astype(np.int32).reshape(shape), driveable.reshape(shape),
                       hits.coverage)


def write_camera_image(path: Path, frame: CameraFrame) -> None:
    """Save the RGB image of ``frame`` as the JPEG file of the datasets (written atomically)."""
    write_jpeg_atomic(str(path), frame.image[..., ::-1], JPEG_QUALITY)
