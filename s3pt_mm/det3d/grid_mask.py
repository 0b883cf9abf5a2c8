"""GridMask (Chen et al. 2020) on the network input, as PETR applies it to the multi-view images."""
import torch
from torch import nn

from mmdet3d.registry import MODELS

__all__ = ['GridMask']


@MODELS.register_module()
class GridMask(nn.Module):
    """Zero a random grid of the images during training (identity in eval mode).

    A grid period ``d`` is drawn from ``[2, H)`` and a random phase per axis; rows (``use_h``) and
    columns (``use_w``) whose position modulo ``d`` is below ``l = clip(round(ratio d), 1, d - 1)`` form
    stripes. ``mode=0`` zeroes the stripes, ``mode=1`` keeps only them (PETR: ``mode=1``,
    ``ratio=0.5``, ``prob=0.7``). One mask is drawn per call, shared by all images of the batch.

    Args:
        use_h, use_w (bool): horizontal / vertical stripes.
        ratio (float): stripe width as a fraction of the period.
        mode (int): 0 drops the stripes, 1 keeps them.
        prob (float): probability of masking a batch.
    """

    def __init__(self, use_h=True, use_w=True, ratio=0.5, mode=1, prob=0.7):
        super().__init__()
        if mode not in (0, 1):
            raise ValueError(f'mode must be 0 or 1, got {mode}')
        self.use_h, self.use_w, self.ratio, self.mode, self.prob = use_h, use_w, ratio, mode, prob

    def mask(self, height, width, device=None):
        """A random (height, width) float mask of ones (kept) and zeros (dropped)."""
        period = int(torch.randint(2, max(height, 3), ()).item())
        length = min(max(int(period * self.ratio + 0.5), 1), period - 1)
        stripes = torch.zeros(height, width, dtype=torch.bool, device=device)
        if self.use_h:
            phase = int(torch.randint(period, ()).item())
            rows = (torch.arange(height, device=device) - phase) % period < length
            stripes |= rows[:, None]
        if self.use_w:
            phase = int(torch.randint(period, ()).item())
            cols = (torch.arange(width, device=device) - phase) % period < length
            stripes |= cols[None, :]
        return (stripes if self.mode == 1 else ~stripes).float()

    def forward(self, imgs):
        """imgs (..., H, W) -> imgs times a grid mask (training and with probability ``prob`` only)."""
        if not self.training or torch.rand(()).item() > self.prob:
            return imgs
        return imgs * self.mask(*imgs.shape[-2:], device=imgs.device)
