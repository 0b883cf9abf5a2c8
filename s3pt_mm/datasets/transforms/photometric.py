"""The photometric augmentations of DINO / CrIBo / S3PT at a data-loader worker's budget.

DINO's recipe (torchvision on PIL images) is ``ColorJitter(0.4, 0.4, 0.2, 0.1)`` with probability 0.8,
``RandomGrayscale(0.2)``, a Gaussian blur of radius (standard deviation) uniform in [0.1, 2.0] and solarization.
mmpretrain's ``ColorJitter`` and ``GaussianBlur`` restate it on BGR arrays, at about 3 ms and 1.9 ms of CPU per
224x224 view: the jitter converts the array to a PIL image and back for each of its four operations, and
PIL's hue shift goes through PIL's per-pixel HSV conversion; the blur is PIL's three-pass box approximation.
The two transforms here draw the same random parameters (they inherit mmpretrain's) and differ only in how
the pixels are computed:

* :class:`FastColorJitter`: brightness, contrast and saturation by the same ``PIL.ImageEnhance`` operations
  in one PIL image (bit-identical to mmpretrain's), the hue shift by mmcv's OpenCV backend of
  ``adjust_hue`` (the same uint8 rotation of the hue channel, in OpenCV's HSV; pixels differ by rounding);
* :class:`FastGaussianBlur`: OpenCV's exact Gaussian of the same standard deviation, edges replicated as PIL
  does, instead of PIL's box approximation.

tests/test_datasets/test_fast_pipeline.py bounds the differences to mmpretrain's transforms.

All four transforms of the recipe here (the two above, :class:`DeferrableGrayscale` and
:class:`DeferrableSolarize`, which are mmcv's and mmpretrain's unchanged on arrays) also record their operation
in a :class:`~s3pt_mm.utils.deferred_view.DeferredView` instead of computing it, after the same
random draws, for views rendered on the device (``MultiViewWithDepth(render='device')``).
"""
import cv2
import mmcv
import numpy as np
from mmcv.transforms import RandomGrayscale
from mmpretrain.datasets.transforms import ColorJitter, GaussianBlur, Solarize
from mmpretrain.registry import TRANSFORMS
from PIL import Image, ImageEnhance

from ...utils import deferred_view
from ...utils.deferred_view import DeferredView

_ENHANCERS = {0: ImageEnhance.Brightness, 1: ImageEnhance.Contrast, 2: ImageEnhance.Color}
# torchvision's order indices (mmpretrain's _rand_params) -> recorded operation
_JITTER_OPS = {0: deferred_view.BRIGHTNESS, 1: deferred_view.CONTRAST, 2: deferred_view.SATURATION,
               3: deferred_view.HUE}


@TRANSFORMS.register_module()
class FastColorJitter(ColorJitter):
    """mmpretrain's ``ColorJitter`` (torchvision's: brightness, contrast, saturation and hue in a random
    order) with one PIL conversion per image and the hue shift in OpenCV's HSV.

    Required keys: ``img`` (H, W, 3) uint8 BGR. Modified: ``img``. Arguments as mmpretrain's ``ColorJitter``
    (its ``backend`` is not used).
    """
    supports_deferred_views = True

    def transform(self, results: dict) -> dict:
        order, brightness, contrast, saturation, hue = self._rand_params()
        if isinstance(results['img'], DeferredView):
            for index in order:
                factor = (brightness, contrast, saturation, hue)[index]
                if factor is not None:
                    results['img'] = results['img'].then(_JITTER_OPS[index], factor)
            return results
        factors = {0: brightness, 1: contrast, 2: saturation}
        rgb = Image.fromarray(cv2.cvtColor(results['img'], cv2.COLOR_BGR2RGB))
        for index in order:
            if index in factors and factors[index] is not None:
                rgb = _ENHANCERS[index](rgb).enhance(factors[index])
            elif index == 3 and hue is not None:
                bgr = mmcv.adjust_hue(cv2.cvtColor(np.asarray(rgb), cv2.COLOR_RGB2BGR), hue, backend='cv2')
                rgb = Image.fromarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        results['img'] = cv2.cvtColor(np.asarray(rgb), cv2.COLOR_RGB2BGR)
        return results


@TRANSFORMS.register_module()
class FastGaussianBlur(GaussianBlur):
    """mmpretrain's ``GaussianBlur`` (DINO's: radius = standard deviation, drawn from ``magnitude_range``) as
    OpenCV's Gaussian filter with replicated edges.

    Required keys: ``img`` (H, W, C) uint8. Modified: ``img``. Arguments as mmpretrain's ``GaussianBlur``.
    """
    supports_deferred_views = True

    def transform(self, results: dict) -> dict:
        if self.random_disable():
            return results
        sigma = self.radius if self.radius is not None else self.random_magnitude()
        if isinstance(results['img'], DeferredView):
            results['img'] = results['img'].then(deferred_view.BLUR, sigma)
            return results
        results['img'] = cv2.GaussianBlur(results['img'], (0, 0), sigmaX=sigma, sigmaY=sigma,
                                          borderType=cv2.BORDER_REPLICATE)
        return results


@TRANSFORMS.register_module()
class DeferrableGrayscale(RandomGrayscale):
    """mmcv's ``RandomGrayscale`` (the weighted sum of the channels, truncated to uint8) that also records
    itself in a deferred view. Arguments as mmcv's; ``color_format`` must be 'bgr' (the views' format).
    """
    supports_deferred_views = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.color_format != 'bgr':
            raise ValueError("DeferrableGrayscale works on the views' BGR images, got "
                             f'color_format={self.color_format}')

    def transform(self, results: dict) -> dict:
        if not isinstance(results['img'], DeferredView):
            return super().transform(results)
        if not self.keep_channels:
            raise ValueError('DeferrableGrayscale: a deferred view keeps its 3 channels (keep_channels=True)')
        if self._random_prob() < self.prob:
            weights = np.asarray(self.channel_weights, np.float64) / sum(self.channel_weights)
            results['img'] = results['img'].then(deferred_view.GRAYSCALE, *weights)
        return results


@TRANSFORMS.register_module()
class DeferrableSolarize(Solarize):
    """mmpretrain's ``Solarize`` (values at or above ``thr`` inverted) that also records itself in a deferred
    view. Arguments as mmpretrain's.
    """
    supports_deferred_views = True

    def transform(self, results: dict) -> dict:
        if not isinstance(results['img'], DeferredView):
            return super().transform(results)
        if self.random_disable():
            return results
        thr = self.thr if self.thr is not None else self.random_magnitude()
        results['img'] = results['img'].then(deferred_view.SOLARIZE, thr)
        return results
