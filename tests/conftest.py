"""Shared pytest fixtures."""
from pathlib import Path

import pytest

#: The small synthetic dataset shared by the test session (2 scenes x 3 samples x 6 cameras, 160x90).
SYNTHETIC_TEST_CONFIG = dict(seed=0, num_scenes=2, samples_per_scene=3, image_size=(90, 160),
                             lidar_azimuth_step=0.5)


@pytest.fixture(scope='session')
def synthetic_data_root(tmp_path_factory) -> Path:
    """Root of a synthetic dataset generated once per session (a few seconds).

    ``root / 'nuscenes'`` is a nuScenes ``v1.0-mini`` dataroot (scene-0061 in mini_train, scene-0103 in
    mini_val), ``root / 'nuimages'`` a nuImages dataroot with versions ``v1.0-mini``, ``v1.0-train`` and
    ``v1.0-val``; ``s3pt_mm.datasets.synthetic.load_config(root)`` returns the generation config.
    """
    from s3pt_mm.datasets.synthetic import generate_synthetic_dataset

    root = tmp_path_factory.mktemp('synthetic') / 'data'
    generate_synthetic_dataset(root, **SYNTHETIC_TEST_CONFIG)
    return root
