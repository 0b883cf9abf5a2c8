"""Views rendered on the training device: the worker draws them, the data preprocessor computes their pixels.

With ``MultiViewWithDepth(render='device')`` a data-loader worker does not decode the image nor compute any
view pixel. Each transform of a view makes exactly the random draws it makes on the CPU path (so the crop
geometry, the token geometry and every photometric parameter have the same distribution, and the same values
for the same seed) and records the operation it would have applied in a :class:`DeferredView`. The worker
sends the image file's bytes and these recipes; ``DeferredViewsDataPreprocessor`` decodes the batch on the
device (nvJPEG on a GPU) and applies the recorded operations to all the views of the batch at once
(:mod:`s3pt_mm.models.utils.view_rendering`).

A recipe is a ``(MAX_OPS, 7)`` float64 array, one operation per row in the order it was applied:
``[code, p1, ..., p6]``, unused rows ``NONE``. The codes and their parameters:

==============  =====================================================================================
``RESIZED_CROP``  top, left, height, width (original pixels), size (output side), resample (PIL code);
                  always the first row: the view's pixels are resampled from the decoded frame
``FLIP``          horizontal flip
``BRIGHTNESS``    factor (``PIL.ImageEnhance.Brightness``)
``CONTRAST``      factor (``PIL.ImageEnhance.Contrast``)
``SATURATION``    factor (``PIL.ImageEnhance.Color``)
``HUE``           factor in [-0.5, 0.5] (mmcv's ``adjust_hue``)
``GRAYSCALE``     the B, G, R weights (mmcv's ``RandomGrayscale``, normalised, result truncated)
``BLUR``          standard deviation (OpenCV's Gaussian, replicated edges)
``SOLARIZE``      threshold (``mmcv.solarize``)
==============  =====================================================================================
"""
from typing import Tuple

import numpy as np

NONE, RESIZED_CROP, FLIP, BRIGHTNESS, CONTRAST, SATURATION, HUE, GRAYSCALE, BLUR, SOLARIZE = range(10)
OP_NAMES = ('NONE', 'RESIZED_CROP', 'FLIP', 'BRIGHTNESS', 'CONTRAST', 'SATURATION', 'HUE', 'GRAYSCALE', 'BLUR',
            'SOLARIZE')
MAX_OPS = 12  # crop, flip, 4 jitter operations, grayscale, blur, solarize: 9, with room to spare
NUM_PARAMS = 6
#: PIL's resampling codes that torch restates (anti-aliased, PIL's kernels) -> ``F.interpolate``'s mode
TORCH_RESAMPLING = {2: 'bilinear', 3: 'bicubic'}


class DeferredView:
    """A view as a recipe: its shape and the operations that make its pixels from the decoded frame.

    Immutable: every operation returns a new view, so the frame's view (no operation yet), which all the views
    of a sample start from, is never changed by one of them.

    Args:
        shape (tuple[int, int, int]): (H, W, 3) of the pixels the recipe makes.
        ops (tuple[tuple[float, ...], ...]): the operations so far, ``(code, *params)`` each.
    """

    def __init__(self, shape: Tuple[int, int, int], ops: Tuple[Tuple[float, ...], ...] = ()):
        self.shape = tuple(shape)
        self.ops = tuple(ops)

    def resized_crop(self, top: int, left: int, height: int, width: int, size: int,
                     resample: int) -> 'DeferredView':
        """The crop ``[top, top + height) x [left, left + width)`` of the frame resized to ``size`` x ``size``
        with PIL's ``resample`` filter (anti-aliased when shrinking)."""
        if self.ops:
            raise ValueError('a deferred view is cropped from the decoded frame: RandomResizedCropWithDepth must '
                             f'be the first operation of the view, got it after {self.describe()}')
        return DeferredView((size, size, 3), ((RESIZED_CROP, top, left, height, width, size, resample), ))

    def then(self, code: int, *params: float) -> 'DeferredView':
        """This view followed by the operation ``code`` with its parameters."""
        if not self.ops:
            raise ValueError(f'{OP_NAMES[code]} before the view was cropped: a deferred view starts with '
                             'RandomResizedCropWithDepth')
        if len(self.ops) == MAX_OPS:
            raise ValueError(f'a deferred view holds at most {MAX_OPS} operations: {self.describe()}')
        return DeferredView(self.shape, self.ops + ((code, *params), ))

    def describe(self) -> str:
        """The operations by name, e.g. ``RESIZED_CROP, FLIP, CONTRAST``."""
        return ', '.join(OP_NAMES[int(op[0])] for op in self.ops) or 'no operation'

    def to_array(self) -> np.ndarray:
        """The recipe: (MAX_OPS, 1 + NUM_PARAMS) float64, rows ``[code, params...]``, zero-padded."""
        recipe = np.zeros((MAX_OPS, 1 + NUM_PARAMS), np.float64)
        for row, op in enumerate(self.ops):
            recipe[row, :len(op)] = op
        return recipe

    def __repr__(self):
        return f'{self.__class__.__name__}(shape={self.shape}, ops=[{self.describe()}])'
