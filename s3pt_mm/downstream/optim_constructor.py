"""An optimizer wrapper constructor that leaves frozen parameters out of the optimizer (downstream training
with a frozen backbone; ``s3pt_mm.seg`` and ``s3pt_mm.det3d`` register it in mmseg's and mmdet3d's registries)."""
import torch.nn as nn
from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapper
from mmpretrain.registry import OPTIM_WRAPPER_CONSTRUCTORS

__all__ = ['TrainableParamsOptimWrapperConstructor']


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class TrainableParamsOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """mmengine's default constructor (``paramwise_cfg`` included), keeping only parameters with
    ``requires_grad=True`` in the optimizer (mmengine's adds all of them).

    With a frozen backbone (:class:`~s3pt_mm.downstream.FrozenPretrainedViT`) the optimizer then holds no
    backbone tensor: no state, no weight decay, nothing saved for it.
    """

    def __call__(self, model: nn.Module) -> OptimWrapper:
        optim_wrapper = super().__call__(model)
        optimizer = optim_wrapper.optimizer
        groups = []
        for group in optimizer.param_groups:
            group['params'] = [p for p in group['params'] if p.requires_grad]
            if group['params']:
                groups.append(group)
        optimizer.param_groups = groups
        return optim_wrapper
