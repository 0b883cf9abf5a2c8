"""Loading of the dense LiDAR depth maps written by ``tools/create_data.py``."""
from typing import Optional

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmengine import fileio
from mmpretrain.registry import TRANSFORMS


def upsample_depth(raw: np.ndarray, height: int, width: int, path: str) -> np.ndarray:
    """Nearest-neighbour upsampling of a depth map stored at ``1 / factor`` of the image size.

    Args:
        raw (np.ndarray): (h, w) depth map with ``h * factor == height`` and ``w * factor == width``
            for one integer ``factor`` >= 1.
        height, width (int): the image size.
        path (str): the file, for the error message.

    Returns:
        np.ndarray: (height, width), every pixel a copy of its block's value (never an interpolation
        across a depth edge).
    """
    h, w = raw.shape
    factor = height // h if h else 0
    if factor < 1 or (h * factor, w * factor) != (height, width):
        raise ValueError(f'depth map {path} has shape {raw.shape}, which is not the image shape '
                         f'({height}, {width}) divided by an integer factor')
    if factor == 1:
        return raw
    return np.repeat(np.repeat(raw, factor, axis=0), factor, axis=1)


@TRANSFORMS.register_module()
class LoadDepthFromFile(BaseTransform):
    """Read a 16-bit PNG depth map into ``results['depth']`` (float32 metres, 0 = unknown).

    The PNG stores ``round(depth * depth_scale)`` as uint16 (0 = no depth). A map stored at the image
    size divided by an integer factor (the converter's ``depth_downsample``) is upsampled to the image
    size with nearest neighbour.

    The file is read through ``mmengine.fileio`` with ``backend_args``, as ``LoadImageFromFile`` reads
    the image, so depth maps in object storage (petrel, S3, http) need only a ``backend_args`` setting.

    Required keys: ``depth_path``, ``img_shape`` (run ``LoadImageFromFile`` first), ``depth_scale``
    (from the dataset's metainfo) unless given here. Added keys: ``depth`` (H, W) float32 metres.

    Args:
        depth_scale (float | None): PNG units per metre; None takes the dataset's ``depth_scale``.
        backend_args (dict | None): arguments of the ``mmengine.fileio`` backend (None: inferred from
            the path, local files by default).
    """

    def __init__(self, depth_scale: Optional[float] = None, backend_args: Optional[dict] = None):
        if depth_scale is not None and depth_scale <= 0:
            raise ValueError(f'depth_scale must be positive, got {depth_scale}')
        self.depth_scale = depth_scale
        self.backend_args = backend_args

    def transform(self, results: dict) -> dict:
        path = results.get('depth_path')
        if path is None:
            raise KeyError(f"no 'depth_path' for image {results.get('img_path')}: the info file has no "
                           'depth map for it (create the infos with depth, or remove LoadDepthFromFile '
                           'from the pipeline)')
        scale = self.depth_scale if self.depth_scale is not None else results.get('depth_scale')
        if not scale:
            raise KeyError(f"no depth_scale for {path}: set LoadDepthFromFile(depth_scale=...) or the "
                           "info file's metainfo 'depth_scale'")
        if 'img_shape' not in results:
            raise KeyError(f"LoadDepthFromFile needs 'img_shape' to check {path} against the image: "
                           'put LoadImageFromFile before it')
        try:
            data = fileio.get(path, backend_args=self.backend_args)
        except FileNotFoundError:
            raise FileNotFoundError(f'depth map not found: {path}')
        raw = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        if raw is None:
            raise ValueError(f'depth map is not a readable image: {path}')
        if raw.dtype != np.uint16 or raw.ndim != 2:
            raise ValueError(f'depth map must be a single-channel 16-bit PNG, got {raw.dtype} with shape '
                             f'{raw.shape}: {path}')
        height, width = results['img_shape'][:2]
        raw = upsample_depth(raw, height, width, path)
        results['depth'] = raw.astype(np.float32) / np.float32(scale)
        return results

    def __repr__(self):
        return f'{self.__class__.__name__}(depth_scale={self.depth_scale}, backend_args={self.backend_args})'
