"""Depth-aware multi-view augmentation for S3PT pre-training.

The joint-view spatial clustering (paper §3.2-3.3) needs, for every ViT patch token of both views of an
image, the token's position in the ORIGINAL image (so that tokens of the two views share one coordinate
frame) and its depth from the dense LiDAR depth map. The geometric transforms here therefore move the
image and its depth map together (depth always with nearest neighbour, so a depth value is never a
blend of two surfaces) and compose ``results['view_to_orig']``: a 2x3 affine map from view pixel
coordinates to original image pixel coordinates. Coordinates are continuous, pixel ``i`` covering
``[i, i + 1)``, so the centre of pixel ``(row, col)`` is ``(col + 0.5, row + 0.5)``.
:class:`TokenGeometry` reads that map and the view's depth map at the end of each view's pipeline.

The photometric transforms of the DINO / CrIBo recipe (mmpretrain's ``ColorJitter``, ``GaussianBlur``,
``Solarize`` and mmcv's ``RandomGrayscale``, or our ``FastColorJitter`` / ``FastGaussianBlur`` /
``DeferrableGrayscale`` / ``DeferrableSolarize``) read and write ``results['img']`` only, so they work unchanged
on the views. With ``MultiViewWithDepth(render='device')`` the transforms record their operations instead of
computing pixels (:mod:`s3pt_mm.utils.deferred_view`); those of this module and of ``photometric.py`` can.

Pipeline of the pre-training configs (two global 224x224 views; Tables 5-7: crop scale (0.25, 1.0),
or (0.32, 1.0) for ViT-B CrIBo / S3PT; docs/data_pipeline.md for the loaders and the Fast* transforms,
which compute mmpretrain's transforms with less CPU)::

    color_jitter = dict(type='RandomApply', prob=0.8, transforms=[
        dict(type='FastColorJitter', brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1)])
    grayscale = dict(type='DeferrableGrayscale', prob=0.2, keep_channels=True,
                     channel_weights=(0.114, 0.587, 0.2989))  # BGR images
    geometric = [
        dict(type='RandomResizedCropWithDepth', size=224, scale=(0.25, 1.0), interpolation='bicubic'),
        dict(type='RandomFlipWithDepth', prob=0.5),
    ]
    view_1 = geometric + [
        color_jitter, grayscale,
        dict(type='FastGaussianBlur', magnitude_range=(0.1, 2.0), magnitude_std='inf', prob=1.0),
        dict(type='TokenGeometry', patch_size=16),
    ]
    view_2 = geometric + [
        color_jitter, grayscale,
        dict(type='FastGaussianBlur', magnitude_range=(0.1, 2.0), magnitude_std='inf', prob=0.1),
        dict(type='DeferrableSolarize', thr=128, prob=0.2),
        dict(type='TokenGeometry', patch_size=16),
    ]
    train_pipeline = [
        dict(type='LoadImageForCrops'),  # the header; decoded once by MultiViewWithDepth
        dict(type='LoadDepthFromFile', upsample=False),  # S3PT only: the depth term
        dict(type='MultiViewWithDepth', num_views=[1, 1], transforms=[view_1, view_2]),
        dict(type='PackMultiViewInputs'),
    ]

DINO's local crops (96x96, scale (0.05, 0.25)) go in a third group without ``TokenGeometry``:
``num_views=[1, 1, 10]``; views with token geometry must come first.
"""
import copy
import math
from typing import List, Sequence, Tuple

import cv2
import numpy as np
import torch
from PIL import Image
from mmcv.transforms import BaseTransform, Compose
from mmpretrain.registry import TRANSFORMS

from ...utils import deferred_view
from ...utils.deferred_view import DeferredView
from .crop_sources import DCT_REDUCTIONS, DepthForCrops, ImageForCrops

# The image is resized with PIL, as torchvision's RandomResizedCrop does on the PIL images of DINO's and
# CrIBo's loaders: PIL widens its filter support by the shrink factor, i.e. it low-pass filters (anti-
# aliases) when a 1600x900 crop shrinks 3-6x to 224x224; OpenCV's INTER_CUBIC samples 4x4 pixels and
# aliases. PIL filters each channel alike, so the BGR channel order of mmcv does not matter.
_INTERPOLATIONS = dict(nearest=Image.Resampling.NEAREST, bilinear=Image.Resampling.BILINEAR,
                       bicubic=Image.Resampling.BICUBIC, lanczos=Image.Resampling.LANCZOS)
_IDENTITY = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
TOKEN_GEOMETRY_KEYS = ('token_positions', 'token_depths', 'token_depth_valid')
DEVICE_INTERPOLATIONS = ('bilinear', 'bicubic')  # torch's anti-aliased resampling (PIL's filters)


def compose_affine(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """2x3 affine ``outer o inner`` (``inner`` applied first)."""
    bottom = np.array([[0.0, 0.0, 1.0]])
    return (np.vstack([outer, bottom]) @ np.vstack([inner, bottom]))[:2]


def view_to_orig(results: dict) -> np.ndarray:
    """The view's 2x3 map to original image pixels (identity before any geometric transform)."""
    return results.get('view_to_orig', _IDENTITY)


def as_arrays(results: dict) -> dict:
    """``img`` and ``depth`` as whole-frame arrays, for transforms that work on the whole frame (a
    :class:`ImageForCrops` / :class:`DepthForCrops` left by the loaders is decoded / upsampled here)."""
    if isinstance(results.get('img'), ImageForCrops):
        results['img'] = results['img'].to_array()
    if isinstance(results.get('depth'), DepthForCrops):
        results['depth'] = results['depth'].to_array()
    return results


def _check_depth_shape(results, name):
    depth = results.get('depth')
    if depth is not None and depth.shape != results['img'].shape[:2]:
        raise ValueError(f'{name}: depth map {depth.shape} and image {results["img"].shape[:2]} differ in '
                         'size')


def random_resized_crop_box(height: int, width: int, scale: Tuple[float, float],
                            ratio: Tuple[float, float]) -> Tuple[int, int, int, int]:
    """Sample a crop the way torchvision's RandomResizedCrop does.

    The area fraction is uniform in ``scale`` and the aspect ratio (w / h) log-uniform in ``ratio``;
    after 10 rejected samples, a central crop with the ratio clipped to ``ratio``. Uses ``np.random``
    (seeded per dataloader worker by mmengine).

    Returns:
        tuple[int, int, int, int]: (top, left, h, w) in pixels.
    """
    area = height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * np.random.uniform(*scale)
        aspect = math.exp(np.random.uniform(*log_ratio))
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            return int(np.random.randint(0, height - h + 1)), int(np.random.randint(0, width - w + 1)), h, w
    h, w = _fallback_crop(height, width, ratio)
    return (height - h) // 2, (width - w) // 2, h, w


def _fallback_crop(height: int, width: int, ratio: Tuple[float, float]) -> Tuple[int, int]:
    """(h, w) of torchvision's fallback: the whole image with its aspect ratio clipped to ``ratio``."""
    in_ratio = width / height
    if in_ratio < min(ratio):
        return int(round(width / min(ratio))), width
    if in_ratio > max(ratio):
        return height, int(round(height * max(ratio)))
    return height, width


def smallest_crop(height: int, width: int, scale: Tuple[float, float],
                  ratio: Tuple[float, float]) -> Tuple[int, int]:
    """Lower bounds of the (h, w) that :func:`random_resized_crop_box` can return: a sampled crop has
    ``w = round(sqrt(area * aspect))`` and ``h = round(sqrt(area / aspect))`` with ``area >= scale[0] * H * W``
    and ``aspect`` in ``ratio``; the fallback is the one central crop."""
    area = scale[0] * height * width
    fallback_h, fallback_w = _fallback_crop(height, width, ratio)
    return (min(int(round(math.sqrt(area / max(ratio)))), fallback_h),
            min(int(round(math.sqrt(area * min(ratio)))), fallback_w))


def resize_like_pil(img: np.ndarray, size: Tuple[int, int], resample: int) -> np.ndarray:
    """Resize an (H, W, C) or (H, W) uint8 array to ``size`` = (width, height) with PIL's ``resample``
    filter (torchvision's resize of a PIL image)."""
    if img.dtype != np.uint8:
        raise TypeError(f'resize_like_pil expects a uint8 image, got {img.dtype}')
    return np.asarray(Image.fromarray(np.ascontiguousarray(img)).resize(size, resample))


@TRANSFORMS.register_module()
class RandomResizedCropWithDepth(BaseTransform):
    """Random resized crop of the image (``interpolation``) and of its depth map (nearest neighbour).

    Required keys: ``img`` (H, W, 3); optional ``depth`` (H, W). Modified: ``img``, ``depth``,
    ``img_shape``. Added / updated: ``view_to_orig`` (2, 3) float64.

    Args:
        size (int): side of the square output view in pixels (224 for global, 96 for local crops).
        scale (tuple[float, float]): range of the crop's area as a fraction of the image's.
        ratio (tuple[float, float]): range of the crop's aspect ratio (w / h).
        interpolation (str): image interpolation, done by PIL as torchvision does on PIL images
            (anti-aliased when shrinking): 'bicubic' (DINO, CrIBo), 'bilinear', 'lanczos' or 'nearest'.
            The depth map is always resized by nearest neighbour.
    """
    supports_deferred_views = True  # records the crop in a DeferredView (MultiViewWithDepth(render='device'))

    def __init__(self, size: int = 224, scale: Tuple[float, float] = (0.25, 1.0),
                 ratio: Tuple[float, float] = (3 / 4, 4 / 3), interpolation: str = 'bicubic'):
        if interpolation not in _INTERPOLATIONS:
            raise ValueError(f'interpolation must be one of {sorted(_INTERPOLATIONS)}, got {interpolation}')
        if not (isinstance(size, int) and size > 0):
            raise ValueError(f'size must be a positive int (square views), got {size}')
        self.size = size
        self.scale = tuple(scale)
        self.ratio = tuple(ratio)
        self.interpolation = interpolation

    def transform(self, results: dict) -> dict:
        _check_depth_shape(results, self.__class__.__name__)
        img, depth = results['img'], results.get('depth')
        top, left, h, w = random_resized_crop_box(img.shape[0], img.shape[1], self.scale, self.ratio)
        resample = _INTERPOLATIONS[self.interpolation]
        if isinstance(img, (ImageForCrops, DeferredView)):
            results['img'] = img.resized_crop(top, left, h, w, self.size, resample)
        else:
            results['img'] = resize_like_pil(img[top:top + h, left:left + w], (self.size, self.size), resample)
        if isinstance(depth, DepthForCrops):
            results['depth'] = depth.resized_crop(top, left, h, w, self.size)
        elif depth is not None:
            results['depth'] = cv2.resize(depth[top:top + h, left:left + w], (self.size, self.size),
                                          interpolation=cv2.INTER_NEAREST_EXACT)
        crop_to_image = np.array([[w / self.size, 0.0, left], [0.0, h / self.size, top]])
        results['view_to_orig'] = compose_affine(view_to_orig(results), crop_to_image)
        results['img_shape'] = results['img'].shape[:2]
        return results

    def max_decode_reduction(self, height: int, width: int) -> int:
        """The largest JPEG DCT reduction (8, 4, 2 or 1) by which every crop this transform can draw from a
        ``height`` x ``width`` image is shrunk at least: its smallest possible crop side (the smallest area
        at the extreme aspect ratios, or the fallback central crop) divided by ``size``."""
        min_h, min_w = smallest_crop(height, width, self.scale, self.ratio)
        shrink = min(min_h, min_w) / self.size
        return next(r for r in DCT_REDUCTIONS if r <= shrink or r == 1)

    def __repr__(self):
        return (f'{self.__class__.__name__}(size={self.size}, scale={self.scale}, ratio={self.ratio}, '
                f'interpolation={self.interpolation})')


@TRANSFORMS.register_module()
class RandomFlipWithDepth(BaseTransform):
    """Horizontal flip of the image and of its depth map with probability ``prob``.

    Required keys: ``img``; optional ``depth``. Modified: ``img``, ``depth``, ``view_to_orig``.
    Added: ``flip`` (bool).
    """
    supports_deferred_views = True

    def __init__(self, prob: float = 0.5):
        if not 0 <= prob <= 1:
            raise ValueError(f'prob must be in [0, 1], got {prob}')
        self.prob = prob

    def transform(self, results: dict) -> dict:
        _check_depth_shape(results, self.__class__.__name__)
        results['flip'] = bool(np.random.rand() < self.prob)
        if not results['flip']:
            return results
        as_arrays(results)
        img = results['img']
        width = img.shape[1]
        results['img'] = img.then(deferred_view.FLIP) if isinstance(img, DeferredView) else cv2.flip(img, 1)
        if results.get('depth') is not None:
            results['depth'] = cv2.flip(results['depth'], 1)
        mirror = np.array([[-1.0, 0.0, width], [0.0, 1.0, 0.0]])
        results['view_to_orig'] = compose_affine(view_to_orig(results), mirror)
        return results

    def __repr__(self):
        return f'{self.__class__.__name__}(prob={self.prob})'


@TRANSFORMS.register_module()
class TokenGeometry(BaseTransform):
    """Position (original image pixels) and depth (metres) of every ViT patch token of the view.

    Tokens are in row-major order, like the ViT's patch sequence. A token's position is the centre of
    its patch mapped by ``view_to_orig``. Its depth is the lower median of the valid (> 0) depth pixels
    of its patch: robust to a few outliers and always a measured value (a patch straddling a depth edge
    gets the depth of one surface, not a value in between). It is valid when at least
    ``min_valid_fraction`` of the patch's pixels have depth; otherwise its depth is 0.

    Required keys: ``img`` (H, W, 3) with H and W multiples of ``patch_size``; optional ``depth``
    (H, W) (without it every token is invalid) and ``view_to_orig``. Added keys, N = (H / p) * (W / p):
    ``token_positions`` (N, 2) float32 (x, y), ``token_depths`` (N,) float32 metres,
    ``token_depth_valid`` (N,) bool.

    Args:
        patch_size (int): the ViT's patch size p.
        min_valid_fraction (float): fraction of a patch's pixels that must have depth.
    """
    supports_deferred_views = True  # reads the view's shape only

    def __init__(self, patch_size: int = 16, min_valid_fraction: float = 0.25):
        if not 0 < min_valid_fraction <= 1:
            raise ValueError(f'min_valid_fraction must be in (0, 1], got {min_valid_fraction}')
        self.patch_size = patch_size
        self.min_valid_fraction = min_valid_fraction

    def transform(self, results: dict) -> dict:
        _check_depth_shape(results, self.__class__.__name__)
        p = self.patch_size
        height, width = results['img'].shape[:2]
        if height % p or width % p:
            raise ValueError(f'view size {height}x{width} is not a multiple of the patch size {p}')
        rows, cols = height // p, width // p
        ys, xs = np.meshgrid((np.arange(rows) + 0.5) * p, (np.arange(cols) + 0.5) * p, indexing='ij')
        centres = np.stack([xs.ravel(), ys.ravel()], axis=1)
        affine = view_to_orig(results)
        results['token_positions'] = (centres @ affine[:, :2].T + affine[:, 2]).astype(np.float32)
        depths, valid = self.pool_depth(as_arrays(results).get('depth'), rows, cols)
        results['token_depths'], results['token_depth_valid'] = depths, valid
        return results

    def pool_depth(self, depth: np.ndarray, rows: int, cols: int) -> Tuple[np.ndarray, np.ndarray]:
        """Lower median of the valid depth of each patch: (N,) float32 metres and (N,) bool."""
        if depth is None:
            return np.zeros(rows * cols, np.float32), np.zeros(rows * cols, bool)
        p = self.patch_size
        patches = depth.reshape(rows, p, cols, p).transpose(0, 2, 1, 3).reshape(rows * cols, p * p)
        valid_pixels = patches > 0
        num_valid = valid_pixels.sum(axis=1)
        valid = num_valid >= self.min_valid_fraction * p * p
        ordered = np.sort(np.where(valid_pixels, patches, np.inf), axis=1)  # invalid pixels last
        lower_median = ordered[np.arange(rows * cols), np.maximum(num_valid - 1, 0) // 2]
        return np.where(valid, lower_median, 0).astype(np.float32), valid

    def __repr__(self):
        return (f'{self.__class__.__name__}(patch_size={self.patch_size}, '
                f'min_valid_fraction={self.min_valid_fraction})')


@TRANSFORMS.register_module()
class MultiViewWithDepth(BaseTransform):
    """Several augmented views of one image, each with its own depth-derived token geometry.

    Like mmpretrain's ``MultiView`` (which keeps only ``img``): group ``i`` has ``num_views[i]`` views
    made by the pipeline ``transforms[i]``. Every view runs on its own deep copy of the metadata; the frame's
    image and depth map are shared, read-only, not copied. When every group starts with a
    :class:`RandomResizedCropWithDepth`, an image read by :class:`LoadImageForCrops` is decoded once at the
    largest JPEG reduction all the crops allow (:meth:`RandomResizedCropWithDepth.max_decode_reduction`: 1/2
    for 224x224 crops of scale >= 0.25 of a 900x1600 frame, and for DINO's 96x96 local crops of scale
    >= 0.05), and each view is resampled from it; otherwise the frame is decoded at full size and the depth
    map upsampled before the views. Each view's ``img`` and, when its pipeline ends with :class:`TokenGeometry`,
    its ``token_positions`` / ``token_depths`` / ``token_depth_valid`` are collected into lists in view
    order; the full-size ``depth`` is dropped.

    Views with token geometry must come before views without (e.g. 2 global views, then local
    crops), so that entry ``v`` of the token lists belongs to ``img[v]``.

    With ``render='device'`` the worker computes no pixel: the views are
    :class:`~s3pt_mm.utils.deferred_view.DeferredView` recipes (the same random draws, recorded),
    ``encoded_img`` (the file's bytes, uint8 tensor) and ``img_orientation`` (its EXIF orientation) are added,
    and ``DeferredViewsDataPreprocessor`` decodes the images and renders the views on the training device.
    Every transform of the views must support this (``supports_deferred_views``), and the crops must be
    bilinear or bicubic (what the device resamples with).

    Args:
        num_views (int | list[int]): views per group, e.g. [1, 1] (two global views with different
            augmentations) or [1, 1, 10] (DINO's two global and ten local views).
        transforms (list[list[dict | callable]]): the pipeline of each group.
        render (str): where the views' pixels are computed: 'cpu' (here) or 'device' (in the data
            preprocessor, from the recorded recipes).
    """

    def __init__(self, num_views: Sequence[int], transforms: Sequence[List[dict]], render: str = 'cpu'):
        if isinstance(num_views, int):
            num_views = [num_views]
        if len(num_views) != len(transforms):
            raise ValueError(f'num_views {num_views} and transforms ({len(transforms)} groups) differ in '
                             'length')
        if render not in ('cpu', 'device'):
            raise ValueError(f"render must be 'cpu' or 'device', got {render!r}")
        self.num_views = list(num_views)
        self.render = render
        # built from mmpretrain's registry: works with or without a default scope
        self.pipelines = [Compose([TRANSFORMS.build(t) if isinstance(t, dict) else t for t in pipeline])
                          for pipeline in transforms]
        first = [pipeline.transforms[0] if pipeline.transforms else None for pipeline in self.pipelines]
        self.crops = first if all(isinstance(t, RandomResizedCropWithDepth) for t in first) else None
        if render == 'device':
            self._check_deferrable()

    def _check_deferrable(self):
        if self.crops is None:
            raise ValueError("render='device' needs every view pipeline to start with RandomResizedCropWithDepth "
                             '(the device crops each view from the decoded frame)')
        for crop in self.crops:
            if crop.interpolation not in DEVICE_INTERPOLATIONS:
                raise ValueError(f"render='device' resamples with {DEVICE_INTERPOLATIONS}, got {crop}")
        for pipeline in self.pipelines:
            for transform in _leaf_transforms(pipeline.transforms):
                if not getattr(transform, 'supports_deferred_views', False):
                    raise ValueError(f"render='device': {transform!r} cannot record its operation for the device "
                                     '(use the transforms with supports_deferred_views, e.g. FastColorJitter, '
                                     "DeferrableGrayscale, FastGaussianBlur, DeferrableSolarize, or render='cpu')")

    def _shared_frame(self, results: dict) -> dict:
        """The image and depth map every view reads: decoded once (at the crops' reduction), read-only; with
        ``render='device'`` the image is not decoded and the views start from a :class:`DeferredView` of it."""
        img = results['img']
        if self.render == 'device':
            if not isinstance(img, ImageForCrops):
                raise TypeError(f"render='device' sends the image file to the device: load "
                                f"{results.get('img_path')} with LoadImageForCrops, got {type(img).__name__}")
            img = DeferredView(img.shape)
        elif self.crops is None:
            img = as_arrays(results)['img']
        elif isinstance(img, ImageForCrops):
            img.decode(min(crop.max_decode_reduction(*img.shape[:2]) for crop in self.crops))
        frame = {}
        for key, value in (('img', img), ('depth', results.get('depth'))):
            if isinstance(value, np.ndarray):  # a view must not write into the other views' frame
                value = value.view()
                value.flags.writeable = False
            if value is not None:
                frame[key] = value
        return frame

    def transform(self, results: dict) -> dict:
        encoded = results['img'] if self.render == 'device' else None
        frame = self._shared_frame(results)
        metadata = {key: value for key, value in results.items() if key not in frame}
        views = [pipeline(dict(copy.deepcopy(metadata), **frame))
                 for pipeline, count in zip(self.pipelines, self.num_views) for _ in range(count)]
        has_geometry = [all(key in view for key in TOKEN_GEOMETRY_KEYS) for view in views]
        num_geometry = sum(has_geometry)
        if any(has_geometry[num_geometry:]):
            raise ValueError(f'views with TokenGeometry must come first, got {has_geometry}')
        results['img'] = [view['img'] for view in views]
        if num_geometry:
            for key in TOKEN_GEOMETRY_KEYS:
                results[key] = [view[key] for view in views[:num_geometry]]
        results.pop('depth', None)
        results.pop('view_to_orig', None)
        if encoded is not None:
            results['encoded_img'] = torch.frombuffer(bytearray(encoded.data), dtype=torch.uint8)
            results['img_orientation'] = encoded.orientation
        return results

    def __repr__(self):
        return (f'{self.__class__.__name__}(num_views={self.num_views}, render={self.render!r}, '
                f'pipelines={self.pipelines})')


def _leaf_transforms(transforms: Sequence) -> List:
    """The transforms of a pipeline, with those inside wrappers (``RandomApply``, ``Compose``) in their place."""
    leaves = []
    for transform in transforms:
        inner = getattr(transform, 'transforms', None)
        if isinstance(inner, Compose):
            inner = inner.transforms
        leaves.extend(_leaf_transforms(inner) if isinstance(inner, (list, tuple)) else [transform])
    return leaves
