"""Fixtures of the data pipeline tests."""
import cv2
import numpy as np
import pytest


@pytest.fixture(scope='session')
def frame(tmp_path_factory):
    """A 900x1600 JPEG (quality 95) of a colour ramp under Gaussian noise of std 20: about 1 MB, the
    benchmark's hard case (all the detail a reduced decode can lose), and a 450x800 depth PNG with holes."""
    directory = tmp_path_factory.mktemp('frame')
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 200, 1600, dtype=np.float32)[None, :, None] + np.linspace(0, 50, 900)[:, None, None]
    image = np.clip(ramp + rng.normal(0, 20, (900, 1600, 3)), 0, 255).astype(np.uint8)
    cv2.imwrite(str(directory / 'cam.jpg'), image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    depth = rng.integers(1, 60000, (450, 800)).astype(np.uint16)
    depth[rng.random((450, 800)) < 0.3] = 0
    cv2.imwrite(str(directory / 'depth.png'), depth)
    return dict(img_path=str(directory / 'cam.jpg'), depth_path=str(directory / 'depth.png'), depth_scale=256.0)
