"""A frozen pre-trained ViT: the backbone of every downstream evaluation of the paper (A.2.1, Segmenter:
"dense feature representations from frozen backbones"; A.2.2, PETR with the backbone frozen).

One class for all downstream libraries: registered here in mmpretrain's MODELS, and by ``s3pt_mm.seg``
and ``s3pt_mm.det3d`` in mmseg's and mmdet3d's."""
import logging
from typing import Optional

import torch
from mmengine.logging import print_log
from mmpretrain.models import VisionTransformer
from mmpretrain.registry import MODELS

from s3pt_mm.utils.backbone_layouts import WHICH
from s3pt_mm.utils.checkpoint import load_backbone


@MODELS.register_module()
class FrozenPretrainedViT(VisionTransformer):
    """mmpretrain's VisionTransformer with the weights of a pre-training checkpoint, frozen.

    The weights come from ``checkpoint``, in any layout of :mod:`s3pt_mm.utils.backbone_layouts`: a
    pre-training checkpoint of this project (the EMA teacher under ``teacher.backbone.`` by default, the
    student under ``backbone.`` with ``which='student'``), a file of ``tools/extract_backbone.py``, a DINO
    or CrIBo training checkpoint (teacher or student), a DINO hub backbone, a timm ViT (``.pth``, ``.bin``
    or ``.safetensors``), an mmpretrain or mmseg ViT checkpoint. The log names the layout found and the
    tensors loaded. They are loaded by
    :meth:`init_weights`, which the Runner calls before training; for testing a trained segmentation
    model they come from its own checkpoint and ``checkpoint`` may be None.

    Frozen means: no parameter requires gradient (so the optimizer, see
    :class:`~s3pt_mm.downstream.TrainableParamsOptimWrapperConstructor`, never sees them), the module
    stays in eval mode whatever ``train()`` asks (no dropout, no drop path), and the forward pass runs
    without autograd.

    The architecture arguments are the ones of pre-training (``arch='deit-small'``, ``patch_size=16``).
    With ``img_size`` = 224 every weight loads as saved and other inputs get bicubically interpolated
    position embeddings in the forward pass (Segmenter); with ``img_size`` = the network input the
    position embedding is resized once, when loading (PETR). ``out_type='featmap'`` makes ``forward`` map
    images (B, 3, H, W) to a 1-tuple with the (B, C, H/16, W/16) patch tokens after the final LayerNorm,
    what the Segmenter heads and PETR's head read.

    Args:
        checkpoint: pre-training checkpoint file.
        which: ``'teacher'`` (default, what DINO, CrIBo and S3PT evaluate) or ``'student'``.
        **kwargs: :class:`mmpretrain.models.VisionTransformer` arguments.

    Raises (from :meth:`init_weights`):
        ValueError: no checkpoint given.
        FileNotFoundError: the checkpoint does not exist.
        UnknownLayoutError (a KeyError): the checkpoint has no ViT backbone of a known layout, or one
            of another architecture (the message names the file, what it holds and the layouts
            accepted).
        RuntimeError: the weights do not fit this architecture, or some are missing.
    """

    def __init__(self, checkpoint: Optional[str] = None, which: str = 'teacher', out_type: str = 'featmap',
                 **kwargs):
        if which not in WHICH:
            raise ValueError(f"which must be 'teacher' or 'student', got {which!r}")
        if 'init_cfg' in kwargs:
            raise ValueError('FrozenPretrainedViT loads its weights from `checkpoint`; do not set init_cfg')
        super().__init__(out_type=out_type, **kwargs)
        self.checkpoint = checkpoint
        self.which = which
        self.requires_grad_(False)
        self.eval()

    def init_weights(self) -> None:
        """Load the pre-trained weights (instead of a random initialisation) and report what was loaded."""
        if self.checkpoint is None:
            raise ValueError(
                'FrozenPretrainedViT: no pre-training checkpoint given; pass one with --cfg-options '
                'model.backbone.checkpoint=PATH (segmentation) or model.img_backbone.checkpoint=PATH (PETR); '
                'a frozen random backbone is never useful')
        backbone = load_backbone(self.checkpoint, self.which)
        state_dict = backbone.state_dict
        self._check_shapes(state_dict, backbone.layout)
        result = self.load_state_dict(state_dict, strict=False)
        if result.missing_keys:
            raise RuntimeError(
                f'{self.checkpoint}: the backbone of this {backbone.layout} lacks {len(result.missing_keys)} '
                f'weights of this ViT, e.g. {", ".join(result.missing_keys[:8])}')
        print_log(f'FrozenPretrainedViT: {self.checkpoint}: {backbone.layout}; loaded '
                  f'{len(state_dict) - len(result.unexpected_keys)} tensors', logger='current')
        if self.which == 'student' and backbone.which is None:
            print_log(f"FrozenPretrainedViT: {self.checkpoint} holds one network, loaded as it is; which='student' "
                      'applies to teacher-student checkpoints only', logger='current', level=logging.WARNING)
        if result.unexpected_keys:
            print_log(f'FrozenPretrainedViT: ignored weights the ViT does not have: '
                      f'{", ".join(result.unexpected_keys)}', logger='current', level=logging.WARNING)
        self._is_init = True

    def _check_shapes(self, state_dict: dict, layout: str) -> None:
        """A clear error for a checkpoint of another architecture (e.g. ViT-B weights, ViT-S config);
        ``pos_embed`` is exempt (mmpretrain resizes it when the grid differs)."""
        own = self.state_dict()
        wrong = [f'{k} {tuple(v.shape)} vs {tuple(own[k].shape)}' for k, v in state_dict.items()
                 if k in own and k != 'pos_embed' and v.shape != own[k].shape]
        if wrong:
            raise RuntimeError(
                f'{self.checkpoint}: the backbone of this {layout} does not fit this ViT (arch '
                f'{self.arch_settings}); checkpoint vs model: {"; ".join(wrong[:4])}. Use the config '
                'of the pre-trained architecture (vit-s16 / vit-b16).')

    def train(self, mode: bool = True) -> 'FrozenPretrainedViT':
        """Stay in eval mode: the backbone is frozen."""
        return super().train(False)

    def forward(self, x: torch.Tensor) -> tuple:
        with torch.no_grad():
            return super().forward(x)
