"""Loading of the dense LiDAR depth maps written by tools/create_data.py."""
import os.path as osp

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmpretrain.registry import TRANSFORMS


@TRANSFORMS.register_module()
class LoadDepthFromFile(BaseTransform):
    """Read a 16-bit PNG depth map into ``results['depth']`` (float32 metres, 0 = unknown).

    The PNG stores ``round(depth * depth_scale)`` as uint16. A map stored at the image size divided by an
    integer factor is upsampled to the image size with nearest neighbour (never interpolating across
    depth edges).

    Required keys: ``depth_path``, ``img_shape`` (load the image first), ``depth_scale`` unless given here.
    Added keys: ``depth`` (H, W) float32.

    Args:
        depth_scale (float | None): PNG units per metre; None = the dataset's ``depth_scale``.
    """

    def __init__(self, depth_scale=None):
        self.depth_scale = depth_scale

    def transform(self, results):
        path = results.get('depth_path')
        if path is None:
            raise KeyError(f"no 'depth_path' for {results.get('img_path')}: the info file has no depth "
                           'map for this image (run tools/create_data.py with depth, or drop '
                           'LoadDepthFromFile from the pipeline)')
        scale = self.depth_scale or results.get('depth_scale')
        if not scale:
            raise KeyError(f'no depth_scale for {path}: set LoadDepthFromFile(depth_scale=...) or the '
                           "dataset metainfo 'depth_scale'")
        if not osp.isfile(path):
            raise FileNotFoundError(f'depth map not found: {path}')
        raw = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        if raw is None:
            raise ValueError(f'depth map is not a readable image: {path}')
        if raw.dtype != np.uint16 or raw.ndim != 2:
            raise ValueError(f'depth map must be a single-channel 16-bit PNG, got {raw.dtype} with shape '
                             f'{raw.shape}: {path}')
        height, width = results['img_shape'][:2]
        if raw.shape != (height, width):
            fy, fx = height / raw.shape[0], width / raw.shape[1]
            if fy != fx or fy != int(fy):
                raise ValueError(f'depth map {raw.shape} does not match the image ({height}, {width}) '
                                 f'by an integer factor: {path}')
            raw = cv2.resize(raw, (width, height), interpolation=cv2.INTER_NEAREST_EXACT)
        results['depth'] = raw.astype(np.float32) / float(scale)
        return results

    def __repr__(self):
        return f'{self.__class__.__name__}(depth_scale={self.depth_scale})'
