"""What to generate: the configuration and, per scene (nuScenes) or log (nuImages), its world and rig.

Every scene draws from its own random stream ``(seed, dataset, index)``, so a scene's world does not
change when more scenes are requested, and two datasets with the same configuration are identical.

Up to 10 scenes are a ``v1.0-mini`` dataset named after the mini scenes. More scenes (up to
:data:`MAX_SCENES`) are a ``v1.0-trainval`` dataset named after scenes of the official train and val
splits (``nuscenes.utils.splits``; every fifth scene, from the second on, is a val scene), so that the
devkit's ``create_splits_scenes`` and every converter split it as they split the real dataset.
"""
import datetime
from dataclasses import dataclass
from typing import List, Tuple

import numpy as np

from ..utils.nuscenes_constants import CAMERAS
from .sensors import Camera, Lidar, camera_rig, lidar_top
from .taxonomy import LOCATION_VEHICLE, LOCATIONS, MINI_SCENES
from .world import World, build_world

#: Keyframes are 0.5 s apart (2 Hz), as in nuScenes.
SAMPLE_INTERVAL = 0.5
#: Scenes of one location sit side by side along global x, this far apart (metres), so that they share
#: a map without overlapping; the first road origin is at (SCENE_SPACING / 2, SCENE_SPACING / 2).
SCENE_SPACING = 400.0
NUSCENES, NUIMAGES = 'nuscenes', 'nuimages'
#: At most this many scenes: the scenes of a location share one drivable-area map (0.1 m per pixel, the
#: devkit's resolution) of 4000 x 4000 pixels per scene, so 64 scenes make maps of 256 Mpx per location.
MAX_SCENES = 64
#: In a v1.0-trainval dataset, scene ``index`` is a val scene when ``index % VAL_EVERY == 1``.
VAL_EVERY = 5


@dataclass(frozen=True)
class SyntheticConfig:
    """Size and content of a synthetic dataset.

    ``image_size`` is (height, width) in pixels; ``lidar_azimuth_step`` in degrees (the real HDL-32E
    spins at about 0.16 deg); ``objects_per_scene`` counts the random objects added to the guaranteed
    ones. nuImages gets one log per scene with ``6 * samples_per_scene`` single-camera samples.
    """

    seed: int = 0
    num_scenes: int = 2
    samples_per_scene: int = 3
    image_size: Tuple[int, int] = (180, 320)
    lidar_azimuth_step: float = 0.4
    objects_per_scene: int = 24

    def __post_init__(self):
        if not 1 <= self.num_scenes <= MAX_SCENES:
            raise ValueError(f'num_scenes must be in [1, {MAX_SCENES}] (1..{len(MINI_SCENES)}: v1.0-mini; more: '
                             f'v1.0-trainval; each scene adds 16 Mpx of map), got {self.num_scenes}')
        if self.samples_per_scene < 1:
            raise ValueError(f'samples_per_scene must be >= 1, got {self.samples_per_scene}')
        if min(self.image_size) < 8:
            raise ValueError(f'image_size (height, width) must be at least 8 pixels, got {self.image_size}')
        if not 0.05 <= self.lidar_azimuth_step <= 10:
            raise ValueError(f'lidar_azimuth_step must be in [0.05, 10] degrees, got {self.lidar_azimuth_step}')
        if self.objects_per_scene < 0:
            raise ValueError(f'objects_per_scene must be >= 0, got {self.objects_per_scene}')

    @property
    def nuscenes_version(self) -> str:
        """``'v1.0-mini'`` for up to 10 scenes, else ``'v1.0-trainval'`` (the version folder and the
        ``--version`` of ``tools/create_data.py``)."""
        return 'v1.0-mini' if self.num_scenes <= len(MINI_SCENES) else 'v1.0-trainval'


@dataclass(frozen=True)
class ScenePlan:
    """One nuScenes scene or nuImages log: its log metadata, world, sensor rig and sample times."""

    dataset: str
    index: int
    name: str  # nuScenes scene name (nuImages: the log file name).
    location: str
    vehicle: str
    logfile: str
    date_captured: str
    start_timestamp: int  # microseconds since the Unix epoch.
    times: Tuple[float, ...]  # sample times in seconds after start_timestamp.
    map_slot: int  # position among the scenes of the same location (global placement).
    world: World
    cameras: Tuple[Camera, ...]
    lidar: Lidar

    def timestamp(self, k: int) -> int:
        """Timestamp of sample ``k`` in microseconds."""
        return self.start_timestamp + int(round(self.times[k] * 1e6))

    def shot_camera(self, k: int) -> Camera:
        """nuImages: the one camera that takes sample ``k`` (cycling through the rig)."""
        return self.cameras[(self.index + k) % len(self.cameras)]


def _log_time(rng: np.random.Generator, vehicle: str, utc_offset: int) -> Tuple[str, str, int]:
    """(logfile, date_captured, UTC start in microseconds) of a log recorded in summer / autumn 2018."""
    local = datetime.datetime(2018, 7, 1) + datetime.timedelta(days=int(rng.integers(0, 120)),
                                                               seconds=int(rng.integers(8 * 3600, 18 * 3600)))
    utc = local.replace(tzinfo=datetime.timezone(datetime.timedelta(hours=utc_offset)))
    logfile = f'{vehicle}-{local:%Y-%m-%d-%H-%M-%S}{utc_offset:+03d}00'
    return logfile, f'{local:%Y-%m-%d}', int(utc.timestamp()) * 1_000_000


def _plan(config: SyntheticConfig, dataset: str, index: int, location: str, map_slot: int, num_samples: int,
          name: str = '') -> ScenePlan:
    code = 0 if dataset == NUSCENES else 1
    vehicle, utc_offset = LOCATION_VEHICLE[location]
    logfile, date, log_start = _log_time(np.random.default_rng([config.seed, code, index, 0]), vehicle, utc_offset)
    times = tuple(k * SAMPLE_INTERVAL for k in range(num_samples))
    origin = (SCENE_SPACING / 2 + map_slot * SCENE_SPACING, SCENE_SPACING / 2)
    world = build_world(np.random.default_rng([config.seed, code, index, 1]), times, origin,
                        config.objects_per_scene)
    calib_rng = np.random.default_rng([config.seed, code, index, 2])
    cameras = camera_rig(config.image_size, calib_rng)
    lidar = lidar_top(config.lidar_azimuth_step, calib_rng)
    start = log_start + int(calib_rng.integers(20, 600)) * 1_000_000 + int(calib_rng.integers(0, 1_000_000))
    return ScenePlan(dataset, index, name or logfile, location, vehicle, logfile, date, start, times, map_slot,
                     world, cameras, lidar)


def nuscenes_scene_names(config: SyntheticConfig) -> List[Tuple[str, str]]:
    """(scene name, location) of each scene: the v1.0-mini scenes (:data:`~.taxonomy.MINI_SCENES`) for a
    ``v1.0-mini`` dataset; else, in order, names of the official ``val`` split for the scenes whose index
    is 1 modulo :data:`VAL_EVERY` and of the ``train`` split for the others, the locations cycling through
    :data:`~.taxonomy.LOCATIONS`."""
    num_scenes = config.num_scenes
    if config.nuscenes_version == 'v1.0-mini':
        return MINI_SCENES[:num_scenes]
    from nuscenes.utils.splits import train, val  # the devkit's split lists (imported only here)
    train_names, val_names = iter(train), iter(val)
    return [(next(val_names) if index % VAL_EVERY == 1 else next(train_names), LOCATIONS[index % len(LOCATIONS)])
            for index in range(num_scenes)]


def plan_nuscenes(config: SyntheticConfig) -> List[ScenePlan]:
    """The nuScenes scenes, named by :func:`nuscenes_scene_names`; the scenes of one location sit side by
    side on its map."""
    plans, scenes = [], nuscenes_scene_names(config)
    for index, (name, location) in enumerate(scenes):
        slot = sum(loc == location for _, loc in scenes[:index])
        plans.append(_plan(config, NUSCENES, index, location, slot, config.samples_per_scene, name))
    return plans


def plan_nuimages(config: SyntheticConfig) -> List[ScenePlan]:
    """The nuImages logs, one per scene, each with ``6 * samples_per_scene`` single-camera samples."""
    return [_plan(config, NUIMAGES, index, LOCATIONS[index % len(LOCATIONS)], 0,
                  len(CAMERAS) * config.samples_per_scene) for index in range(config.num_scenes)]
