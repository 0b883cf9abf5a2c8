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
"""
import cv2
import mmcv
import numpy as np
from mmpretrain.datasets.transforms import ColorJitter, GaussianBlur
from mmpretrain.registry import TRANSFORMS
from PIL import Image, ImageEnhance

_ENHANCERS = {0: ImageEnhance.Brightness, 1: ImageEnhance.Contrast, 2: ImageEnhance.Color}


@TRANSFORMS.register_module()
class FastColorJitter(ColorJitter):
    """mmpretrain's ``ColorJitter`` (torchvision's: brightness, contrast, saturation and hue in a random
    order) with one PIL conversion per image and the hue shift in OpenCV's HSV.

    Required keys: ``img`` (H, W, 3) uint8 BGR. Modified: ``img``. Arguments as mmpretrain's ``ColorJitter``
    (its ``backend`` is not used).
    """

    def transform(self, results: dict) -> dict:
        order, brightness, contrast, saturation, hue = self._rand_params()
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

    def transform(self, results: dict) -> dict:
        if self.random_disable():
            return results
        sigma = self.radius if self.radius is not None else self.random_magnitude()
        results['img'] = cv2.GaussianBlur(results['img'], (0, 0), sigmaX=sigma, sigmaY=sigma,
                                          borderType=cv2.BORDER_REPLICATE)
        return results
