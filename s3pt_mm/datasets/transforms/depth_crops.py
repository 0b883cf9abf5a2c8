"""Depth-aware multi-view augmentation for S3PT pre-training.

Each view keeps the image, its depth map and an affine map from view pixels to ORIGINAL image pixels
(``results['view_to_orig']``, 2x3, continuous coordinates with pixel ``i`` covering ``[i, i + 1)``), so that
:class:`TokenGeometry` can give every ViT patch token its position in the original image (to cluster the
tokens of two views jointly, paper §3.2) and its depth (§3.3).

Pipeline of the pre-training configs (two global views, the DINO / CrIBo recipe)::

    geometric = [dict(type='RandomResizedCropWithDepth', size=224, scale=(0.25, 1.0)),
                 dict(type='RandomFlipWithDepth', prob=0.5)]
    view_1 = geometric + [color_jitter, grayscale, blur(p=1.0), dict(type='TokenGeometry')]
    view_2 = geometric + [color_jitter, grayscale, blur(p=0.1), solarize(p=0.2),
                          dict(type='TokenGeometry')]
    pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadDepthFromFile'),
                dict(type='MultiViewWithDepth', num_views=[1, 1], transforms=[view_1, view_2]),
                dict(type='PackMultiViewInputs')]

The photometric transforms (mmpretrain's ColorJitter, GaussianBlur, Solarize, mmcv's RandomGrayscale)
touch ``img`` only.
"""
import copy
import math

import cv2
import numpy as np
from mmcv.transforms import BaseTransform, Compose
from mmpretrain.registry import TRANSFORMS

_INTERPOLATIONS = dict(nearest=cv2.INTER_NEAREST_EXACT, bilinear=cv2.INTER_LINEAR,
                       bicubic=cv2.INTER_CUBIC, area=cv2.INTER_AREA)


def _compose(outer, inner):
    """2x3 affine ``outer o inner`` (apply ``inner`` first)."""
    return (np.vstack([outer, [0, 0, 1]]) @ np.vstack([inner, [0, 0, 1]]))[:2]


def _view_to_orig(results):
    if 'view_to_orig' not in results:
        results['view_to_orig'] = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    return results['view_to_orig']


def random_resized_crop_box(height, width, scale, ratio, rng=np.random):
    """torchvision's RandomResizedCrop sampling: (top, left, h, w) of a crop with area fraction in
    ``scale`` and aspect ratio (w / h) log-uniform in ``ratio``; a central crop after 10 failures."""
    area = height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(*log_ratio))
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            return int(rng.randint(0, height - h + 1)), int(rng.randint(0, width - w + 1)), h, w
    in_ratio = width / height
    if in_ratio < min(ratio):
        w, h = width, int(round(width / min(ratio)))
    elif in_ratio > max(ratio):
        h, w = height, int(round(height * max(ratio)))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


@TRANSFORMS.register_module()
class RandomResizedCropWithDepth(BaseTransform):
    """Random resized crop of the image (``interpolation``) and its depth map (nearest neighbour).

    Required keys: ``img``; optional ``depth``. Modified: ``img``, ``depth``, ``img_shape``,
    ``view_to_orig``.

    Args:
        size (int): output side (square views, e.g. 224).
        scale (tuple[float, float]): area fraction range, (0.25, 1.0) / (0.32, 1.0) in Tables 5-7.
        ratio (tuple[float, float]): aspect ratio range.
        interpolation (str): image interpolation, 'bicubic' as DINO.
    """

    def __init__(self, size, scale=(0.25, 1.0), ratio=(3 / 4, 4 / 3), interpolation='bicubic'):
        if interpolation not in _INTERPOLATIONS:
            raise ValueError(f'interpolation must be one of {sorted(_INTERPOLATIONS)}, got {interpolation}')
        self.size = size
        self.scale = tuple(scale)
        self.ratio = tuple(ratio)
        self.interpolation = interpolation

    def transform(self, results):
        img = results['img']
        top, left, h, w = random_resized_crop_box(img.shape[0], img.shape[1], self.scale, self.ratio)
        out = (self.size, self.size)
        results['img'] = cv2.resize(img[top:top + h, left:left + w], out,
                                    interpolation=_INTERPOLATIONS[self.interpolation])
        if 'depth' in results:
            results['depth'] = cv2.resize(results['depth'][top:top + h, left:left + w], out,
                                          interpolation=cv2.INTER_NEAREST_EXACT)
        crop = np.array([[w / self.size, 0.0, left], [0.0, h / self.size, top]])
        results['view_to_orig'] = _compose(_view_to_orig(results), crop)
        results['img_shape'] = results['img'].shape[:2]
        return results

    def __repr__(self):
        return (f'{self.__class__.__name__}(size={self.size}, scale={self.scale}, ratio={self.ratio}, '
                f'interpolation={self.interpolation})')


@TRANSFORMS.register_module()
class RandomFlipWithDepth(BaseTransform):
    """Horizontal flip of the image and the depth map with probability ``prob``.

    Modified keys: ``img``, ``depth``, ``view_to_orig``; added: ``flip``.
    """

    def __init__(self, prob=0.5):
        self.prob = prob

    def transform(self, results):
        results['flip'] = bool(np.random.rand() < self.prob)
        if not results['flip']:
            return results
        width = results['img'].shape[1]
        results['img'] = np.ascontiguousarray(results['img'][:, ::-1])
        if 'depth' in results:
            results['depth'] = np.ascontiguousarray(results['depth'][:, ::-1])
        mirror = np.array([[-1.0, 0.0, width], [0.0, 1.0, 0.0]])
        results['view_to_orig'] = _compose(_view_to_orig(results), mirror)
        return results

    def __repr__(self):
        return f'{self.__class__.__name__}(prob={self.prob})'


@TRANSFORMS.register_module()
class TokenGeometry(BaseTransform):
    """Position (original-image pixels) and depth (metres) of every ViT patch token of the view.

    Tokens are in row-major order like the ViT's patch sequence. A token's depth is the lower median of
    the valid (> 0) depth pixels of its patch (a measured value, even across a depth edge); it is valid when at least ``min_valid_fraction`` of the patch
    has depth (else depth 0 and valid False).

    Added keys: ``token_positions`` (N, 2) float32 (x, y), ``token_depths`` (N,) float32,
    ``token_depth_valid`` (N,) bool.
    """

    def __init__(self, patch_size=16, min_valid_fraction=0.25):
        self.patch_size = patch_size
        self.min_valid_fraction = min_valid_fraction

    def transform(self, results):
        p = self.patch_size
        height, width = results['img'].shape[:2]
        if height % p or width % p:
            raise ValueError(f'view size {height}x{width} is not a multiple of the patch size {p}')
        rows, cols = height // p, width // p
        ys, xs = np.meshgrid((np.arange(rows) + 0.5) * p, (np.arange(cols) + 0.5) * p, indexing='ij')
        centres = np.stack([xs.ravel(), ys.ravel(), np.ones(rows * cols)], axis=1)
        results['token_positions'] = (centres @ _view_to_orig(results).T).astype(np.float32)

        depth = results.get('depth')
        if depth is None:
            results['token_depths'] = np.zeros(rows * cols, np.float32)
            results['token_depth_valid'] = np.zeros(rows * cols, bool)
            return results
        patches = depth.reshape(rows, p, cols, p).transpose(0, 2, 1, 3).reshape(rows * cols, p * p)
        valid_pixels = patches > 0
        valid = valid_pixels.mean(axis=1) >= self.min_valid_fraction
        # lower median of the valid pixels: always a measured depth, never a value between two
        # surfaces at a depth edge
        ordered = np.sort(np.where(valid_pixels, patches, np.inf), axis=1)
        middle = (valid_pixels.sum(axis=1) - 1) // 2
        median = np.take_along_axis(ordered, np.maximum(middle, 0)[:, None], axis=1)[:, 0]
        results['token_depths'] = np.where(valid, median, 0).astype(np.float32)
        results['token_depth_valid'] = valid
        return results

    def __repr__(self):
        return (f'{self.__class__.__name__}(patch_size={self.patch_size}, '
                f'min_valid_fraction={self.min_valid_fraction})')


@TRANSFORMS.register_module()
class MultiViewWithDepth(BaseTransform):
    """Several augmented views of one image, each carrying its depth-derived token geometry.

    Like mmpretrain's ``MultiView`` (which keeps only ``img``): ``transforms[i]`` is the pipeline of the
    ``num_views[i]`` views of group ``i``; each view runs on its own copy of the results. The views'
    ``img`` and, when a view's pipeline adds them, its ``token_*`` entries are collected into lists.

    Args:
        num_views (list[int]): views per group, e.g. [1, 1] (two global views) or [1, 1, 10] (DINO's
            two global and ten local views).
        transforms (list[list[dict]]): the pipeline of each group.
    """
    COLLECTED = ('img', 'token_positions', 'token_depths', 'token_depth_valid')

    def __init__(self, num_views, transforms):
        if isinstance(num_views, int):
            num_views = [num_views]
        if len(num_views) != len(transforms):
            raise ValueError(f'num_views {num_views} and transforms ({len(transforms)} groups) differ in '
                             'length')
        self.num_views = list(num_views)
        # built from mmpretrain's registry, so the wrapper also works without a default scope
        self.pipelines = [Compose([TRANSFORMS.build(t) if isinstance(t, dict) else t for t in pipeline])
                          for pipeline in transforms]

    def transform(self, results):
        collected = {key: [] for key in self.COLLECTED}
        for pipeline, count in zip(self.pipelines, self.num_views):
            for _ in range(count):
                view = pipeline(copy.deepcopy(results))
                for key in self.COLLECTED:
                    if key in view:
                        collected[key].append(view[key])
        results.update({k: v for k, v in collected.items() if v})
        results.pop('depth', None)
        results.pop('view_to_orig', None)
        return results

    def __repr__(self):
        return f'{self.__class__.__name__}(num_views={self.num_views}, pipelines={self.pipelines})'
