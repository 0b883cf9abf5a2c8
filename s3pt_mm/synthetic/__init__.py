"""Synthetic driving scenes written in the genuine nuScenes (v1.0-mini / v1.0-trainval) and nuImages formats.

Real datasets cannot be downloaded in CI, so demos and tests use small procedurally generated ones that
the official devkits (``nuscenes.NuScenes``, ``nuimages.NuImages``, the detection evaluation) load
unchanged. The generator needs numpy, OpenCV, pycocotools and tqdm (and, beyond 10 scenes, the scene
names of the nuScenes devkit's split lists) only: no OpenMMLab package and no torch
(``tests/test_synthetic/test_import_isolation.py``). Modules, one job each:

* :mod:`.world` - procedural road scene with moving objects (:mod:`.object_models`: their part models);
* :mod:`.raycast` - vectorised ray casting; :mod:`.materials` - surface colours and reflectivity;
* :mod:`.sensors` - the calibrated 6-camera rig and the 32-beam LIDAR_TOP scan;
* :mod:`.render` - camera images and per-pixel ground truth;
* :mod:`.nuscenes_writer`, :mod:`.nuimages_writer` - the dataset formats (:mod:`.tables`: tokens and table
  files; files are written with :mod:`s3pt_mm.utils.fileio`, cameras from
  :mod:`s3pt_mm.utils.nuscenes_constants`);
* :mod:`.plan` - configuration and per-scene random streams; :mod:`.generate` - the entry point.

Usage::

    from s3pt_mm.synthetic import generate_synthetic_dataset
    generate_synthetic_dataset('data/synthetic', seed=0, num_scenes=2, samples_per_scene=3)

or ``python tools/make_synthetic_data.py data/synthetic``.
"""
from .generate import generate_synthetic_dataset, load_config
from .nuimages_writer import sample_data_token, semantic_map
from .nuscenes_writer import nuscenes_sample_data_token
from .plan import SyntheticConfig, plan_nuimages, plan_nuscenes
from .render import render_camera
from .sensors import scan_lidar
from .world import build_world

__all__ = ['generate_synthetic_dataset', 'load_config', 'SyntheticConfig', 'plan_nuscenes', 'plan_nuimages',
           'build_world', 'render_camera', 'scan_lidar', 'semantic_map', 'sample_data_token',
           'nuscenes_sample_data_token']
