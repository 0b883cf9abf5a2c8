"""The data preprocessor that renders views on the training device (``MultiViewWithDepth(render='device')``)."""
from typing import List, Optional

import torch
from mmpretrain.models.utils.data_preprocessor import SelfSupDataPreprocessor
from mmpretrain.registry import MODELS

from ...utils.deferred_view import MAX_OPS, NUM_PARAMS
from ..utils.view_rendering import decode_images, render_views


@MODELS.register_module()
class DeferredViewsDataPreprocessor(SelfSupDataPreprocessor):
    """mmpretrain's ``SelfSupDataPreprocessor`` for batches whose views are recipes: it decodes the batch's
    image files on its device (nvJPEG on a GPU: ``torchvision.io.decode_jpeg``) and computes every view from
    its recipe (:func:`~s3pt_mm.models.utils.view_rendering.render_views`), then converts and normalises as
    ``SelfSupDataPreprocessor`` does the views the workers compute.

    Input (``PackMultiViewInputs`` after ``MultiViewWithDepth(render='device')``, through ``default_collate``):
    ``inputs``, V (B, MAX_OPS, 7) float64 recipes; ``data_samples`` with the metainfo ``encoded_img`` and
    ``img_orientation``. Output: as ``SelfSupDataPreprocessor``'s, V (B, 3, S_v, S_v) float32 views.

    Arguments as ``SelfSupDataPreprocessor``'s (``mean``, ``std``, ``to_rgb``...): the rendered views are in the
    BGR order of the CPU path's views before any conversion, so the same config gives the network the same
    channel order either way.

    mmengine calls the data preprocessor inside the optimizer wrapper's autocast context; the views are rendered
    with autocast off, in float32 (a blur's convolution in fp16 would be off by up to a level at 255), and the
    network gets them in float32 as from ``SelfSupDataPreprocessor``.
    """

    def forward(self, data: dict, training: bool = False) -> dict:
        with torch.autocast(self.device.type, enabled=False):
            return self._render(data)

    def _render(self, data: dict) -> dict:
        recipes, samples = data['inputs'], data['data_samples']
        expected = (MAX_OPS, 1 + NUM_PARAMS)
        if not (isinstance(recipes, list) and all(
                isinstance(r, torch.Tensor) and r.dtype == torch.float64 and tuple(r.shape[1:]) == expected
                for r in recipes)):
            raise TypeError(f'{type(self).__name__} renders views from recipes: inputs must be a list of (B, '
                            f'{expected[0]}, {expected[1]}) float64 tensors, from MultiViewWithDepth(render='
                            "'device'); for views computed by the workers use SelfSupDataPreprocessor")
        missing = [i for i, sample in enumerate(samples) if 'encoded_img' not in sample]
        if missing:
            raise KeyError(f'data samples {missing} have no encoded_img: pack them with PackMultiViewInputs after '
                           "MultiViewWithDepth(render='device')")
        paths = [sample.metainfo.get('img_path', f'batch entry {i}') for i, sample in enumerate(samples)]
        images = decode_images([sample.encoded_img for sample in samples],
                               [sample.img_orientation for sample in samples], paths, self.device)
        images = [image.float() for image in images]  # once per frame, not once per view
        views: List[torch.Tensor] = [render_views(images, group) for group in recipes]
        if not self._channel_conversion:  # rendered in RGB; the network gets the CPU path's BGR
            views = [view.flip(1) for view in views]
        if self._enable_normalize:
            views = [(view - self.mean) / self.std for view in views]
        data_samples: Optional[list] = self.cast_data(samples)
        return {'inputs': views, 'data_samples': data_samples}
