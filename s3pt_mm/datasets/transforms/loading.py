"""Loading of the camera images and the dense LiDAR depth maps written by ``tools/create_data.py``."""
from typing import Optional

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmengine import fileio
from mmpretrain.registry import TRANSFORMS

from .crop_sources import DCT_REDUCTIONS, DepthForCrops, ImageForCrops


def depth_factor(raw: np.ndarray, height: int, width: int, path: str) -> int:
    """The integer ``factor`` with ``raw.shape * factor == (height, width)``: a depth map stored at ``1 / factor``
    of the image size (the converter's ``depth_downsample``); ``path`` names the file in the error."""
    h, w = raw.shape
    factor = height // h if h else 0
    if factor < 1 or (h * factor, w * factor) != (height, width):
        raise ValueError(f'depth map {path} has shape {raw.shape}, which is not the image shape '
                         f'({height}, {width}) divided by an integer factor')
    return factor


@TRANSFORMS.register_module()
class LoadImageForCrops(BaseTransform):
    """Read an image file for :class:`MultiViewWithDepth`, which decodes it once at the reduction its crops
    allow (:class:`~s3pt_mm.datasets.transforms.crop_sources.ImageForCrops`).

    Like mmcv's ``LoadImageFromFile`` (through ``mmengine.fileio`` with ``backend_args``), but only the file's
    header is read here: ``img`` is an ``ImageForCrops``; ``img_shape`` and ``ori_shape`` are its size.

    Required keys: ``img_path``. Added keys: ``img`` (ImageForCrops), ``img_shape``, ``ori_shape``.

    Args:
        max_reduction (int): largest JPEG DCT reduction (1, 2, 4 or 8) the views may be resampled from
            (:meth:`RandomResizedCropWithDepth.max_decode_reduction` decides per image size); 1 decodes every
            image at full size.
        backend_args (dict | None): arguments of the ``mmengine.fileio`` backend.
    """

    def __init__(self, max_reduction: int = 8, backend_args: Optional[dict] = None):
        if max_reduction not in DCT_REDUCTIONS:
            raise ValueError(f'max_reduction must be one of {DCT_REDUCTIONS[::-1]}, got {max_reduction}')
        self.max_reduction = max_reduction
        self.backend_args = backend_args

    def transform(self, results: dict) -> dict:
        path = results['img_path']
        try:
            data = fileio.get(path, backend_args=self.backend_args)
        except FileNotFoundError:
            raise FileNotFoundError(f'image not found: {path}')
        image = ImageForCrops(data, path, self.max_reduction)
        results['img'] = image
        results['img_shape'] = results['ori_shape'] = image.shape[:2]
        return results

    def __repr__(self):
        return (f'{self.__class__.__name__}(max_reduction={self.max_reduction}, '
                f'backend_args={self.backend_args})')


@TRANSFORMS.register_module()
class LoadDepthFromFile(BaseTransform):
    """Read a 16-bit PNG depth map into ``results['depth']`` (float32 metres, 0 = unknown).

    The PNG stores ``round(depth * depth_scale)`` as uint16 (0 = no depth). A map stored at the image
    size divided by an integer factor (the converter's ``depth_downsample``) is upsampled to the image
    size with nearest neighbour.

    The file is read through ``mmengine.fileio`` with ``backend_args``, as ``LoadImageFromFile`` reads
    the image, so depth maps in object storage (petrel, S3, http) need only a ``backend_args`` setting.

    Required keys: ``depth_path``, ``img_shape`` (run ``LoadImageFromFile`` first), ``depth_scale``
    (from the dataset's metainfo) unless given here. Added keys: ``depth``: (H, W) float32 metres, or with
    ``upsample=False`` a :class:`~s3pt_mm.datasets.transforms.crop_sources.DepthForCrops` (the map as stored,
    which :class:`RandomResizedCropWithDepth` reads inside each crop only; same view depths).

    Args:
        depth_scale (float | None): PNG units per metre; None takes the dataset's ``depth_scale``.
        upsample (bool): upsample the map to the image size here (True) or keep it as stored for the crops
            (False, the pre-training configs: a 900x1600 float32 map per image is 5.8 MB written and read
            for two 224x224 views).
        backend_args (dict | None): arguments of the ``mmengine.fileio`` backend (None: inferred from
            the path, local files by default).
    """

    def __init__(self, depth_scale: Optional[float] = None, upsample: bool = True,
                 backend_args: Optional[dict] = None):
        if depth_scale is not None and depth_scale <= 0:
            raise ValueError(f'depth_scale must be positive, got {depth_scale}')
        self.depth_scale = depth_scale
        self.upsample = upsample
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
                           'put LoadImageFromFile (or LoadImageForCrops) before it')
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
        depth = DepthForCrops(raw, depth_factor(raw, height, width, path), scale)
        results['depth'] = depth.to_array() if self.upsample else depth
        return results

    def __repr__(self):
        return (f'{self.__class__.__name__}(depth_scale={self.depth_scale}, upsample={self.upsample}, '
                f'backend_args={self.backend_args})')
