"""Top level: generate a synthetic nuScenes + nuImages pair of datasets into one directory.

Output layout::

    OUT_DIR/nuscenes/            dataroot for NuScenes(version='v1.0-mini', dataroot=...)
                                 ('v1.0-trainval' beyond 10 scenes)
    OUT_DIR/nuimages/            dataroot for NuImages(version='v1.0-mini' | 'v1.0-train' | 'v1.0-val', ...)
    OUT_DIR/synthetic_config.json  the SyntheticConfig that produced it

The directory appears atomically: everything is written to a hidden sibling and renamed at the end.
"""
import dataclasses
import json
from pathlib import Path
from typing import Tuple

from tqdm import tqdm

from ..utils.fileio import atomic_output_dir
from .nuimages_writer import write_nuimages
from .nuscenes_writer import write_nuscenes
from .plan import SyntheticConfig, plan_nuimages, plan_nuscenes

CONFIG_FILE = 'synthetic_config.json'


def load_config(root) -> SyntheticConfig:
    """The :class:`SyntheticConfig` a dataset under ``root`` was generated with."""
    with open(Path(root) / CONFIG_FILE) as f:
        content = json.load(f)
    return SyntheticConfig(**dict(content, image_size=tuple(content['image_size'])))


def generate_synthetic_dataset(out_dir, seed: int = 0, num_scenes: int = 2, samples_per_scene: int = 3,
                               image_size: Tuple[int, int] = (180, 320), lidar_azimuth_step: float = 0.4,
                               objects_per_scene: int = 24, overwrite: bool = False,
                               progress: bool = False) -> SyntheticConfig:
    """Generate ``out_dir/nuscenes`` and ``out_dir/nuimages``; deterministic in all arguments.

    :param out_dir: output directory; must not exist or be empty unless ``overwrite``.
    :param seed: random seed of the worlds, calibrations, log names and tokens.
    :param num_scenes: nuScenes scenes and nuImages logs, 1..64: up to 10 a ``v1.0-mini`` dataset (scene 2
        is in ``mini_val``), more a ``v1.0-trainval`` one (scenes 2, 7, 12, ... in ``val``); see
        :func:`~.plan.nuscenes_scene_names`.
    :param samples_per_scene: keyframes per scene (0.5 s apart); nuImages logs get six times as many
        single-camera samples.
    :param image_size: (height, width) of all camera images in pixels.
    :param lidar_azimuth_step: horizontal LiDAR resolution in degrees.
    :param objects_per_scene: random objects per scene on top of the guaranteed ones.
    :param overwrite: replace an existing non-empty ``out_dir`` (only once the new data is complete).
    :param progress: show a progress bar on stderr.
    :return: the configuration, also saved as ``out_dir/synthetic_config.json``.
    """
    config = SyntheticConfig(seed, num_scenes, samples_per_scene, tuple(image_size), lidar_azimuth_step,
                             objects_per_scene)
    with atomic_output_dir(out_dir, overwrite) as tmp:
        nuscenes_plans, nuimages_plans = plan_nuscenes(config), plan_nuimages(config)
        total = sum(len(p.times) for p in nuscenes_plans + nuimages_plans)
        with tqdm(total=total, disable=not progress, unit='sample', desc='synthetic data') as bar:
            write_nuscenes(tmp / 'nuscenes', nuscenes_plans, seed, config.nuscenes_version, bar.update)
            write_nuimages(tmp / 'nuimages', nuimages_plans, seed, bar.update)
        with open(tmp / CONFIG_FILE, 'w') as f:
            json.dump(dataclasses.asdict(config), f, indent=2)
    return config
