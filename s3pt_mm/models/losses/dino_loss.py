"""Semantic clustering loss of DINO / CrIBo / S3PT: H(P_t, P_s) with teacher centering and sharpening.

Each of the three terms of paper Eq. 1 is the cross-entropy between the teacher's and the student's
distributions over K prototypes. Two formulations:

* DINO softmax (DINO, CrIBo): ``P = softmax(<W_k, z> / tau)`` with unit prototypes, and the teacher
  centred in logit space, ``P_t = softmax((t - c) / tau_t)`` with ``c`` the EMA of the mean teacher
  logit (:func:`s3pt_mm.models.utils.vmf.center_logits`).
* vMF-normalised softmax (S3PT, paper Eq. 2): ``log C_p(||W_k|| / tau)`` is added to the logits, with
  unnormalised prototypes, and the teacher is centred in probability space,
  ``P_t = softmax(l_t - log c)`` with ``c`` the EMA of the mean teacher probability
  (:func:`s3pt_mm.models.utils.vmf.center_probabilities`, Govindarajan et al., ICLR 2023).

The centre's batch statistic is all-reduced over DDP ranks.
"""
from typing import Optional, Tuple

import torch
import torch.nn as nn
from mmpretrain.registry import MODELS
from torch import Tensor

from ..utils.cross_entropy import soft_cross_entropy
from ..utils.vmf import (CENTER_EPS, batch_mean, center_logits, center_probabilities, shifted_logits, update_center,
                         vmf_log_normalizer)


@MODELS.register_module()
class DINOLoss(nn.Module):
    """Cross-entropy between centred/sharpened teacher and student prototype distributions.

    Args:
        out_channels (int): K, the number of prototypes.
        student_temp (float): tau_s, 0.1.
        teacher_temp (float): tau_t at start; TeacherTempWarmupHook drives it 0.04 -> 0.07.
        center_momentum (float): m of the centre EMA, 0.9.
        vmf (bool): add the vMF normaliser log C_p(||W_k|| / tau) of Eq. 2 to the logits.
        centering (str): ``'logit'`` (DINO, CrIBo) or ``'probability'`` (S3PT).
        bottleneck_channels (int): p, the dimension of the embeddings z (256).
    """

    def __init__(self, out_channels: int, student_temp: float = 0.1, teacher_temp: float = 0.04,
                 center_momentum: float = 0.9, vmf: bool = False, centering: str = 'logit',
                 bottleneck_channels: int = 256):
        super().__init__()
        if centering not in ('logit', 'probability'):
            raise ValueError(f"centering must be 'logit' or 'probability', got {centering!r}")
        self.student_temp = student_temp
        self.teacher_temp = teacher_temp
        self.center_momentum = center_momentum
        self.vmf = vmf
        self.centering = centering
        self.bottleneck_channels = bottleneck_channels
        init = torch.zeros(out_channels) if centering == 'logit' else torch.full(
            (out_channels, ), 1.0 / out_channels)
        self.register_buffer('center', init)

    def vmf_bias(self, prototype_norms: Optional[Tensor], temperature: float) -> Optional[Tensor]:
        r"""The per-prototype term ``log C_p(||W_k|| / tau)`` that Eq. 2 adds to the logits; None without vMF.

        It depends on the prototypes only, so a training step computes it once per prototype layer and
        temperature (student: differentiable; teacher: under ``no_grad``) and passes it to every term
        (:meth:`teacher_probs`, :meth:`update_center`, :meth:`cross_entropy`).

        Args:
            prototype_norms: (K,) ``||W_k||`` (ignored without vMF). temperature: ``tau``.

        Returns:
            (K,) float32 (float64 for float64 norms) or None.
        """
        if not self.vmf:
            return None
        if prototype_norms is None:
            raise ValueError('the vMF-normalised loss needs the prototype norms ||W_k||')
        return vmf_log_normalizer(prototype_norms / temperature, self.bottleneck_channels)

    @staticmethod
    def scaled_logits(logits: Tensor, vmf_bias: Optional[Tensor], temperature: float) -> Tensor:
        r"""``<W_k, z> / tau`` plus, with vMF, ``log C_p(||W_k|| / tau)`` (:meth:`vmf_bias`): the logits
        whose softmax is Eq. 2,

        .. math::
            P_k(z) = \frac{C_p(\|W_k\|/\tau)\exp(\langle W_k, z\rangle/\tau)}
                          {\sum_j C_p(\|W_j\|/\tau)\exp(\langle W_j, z\rangle/\tau)}.

        With a differentiable ``vmf_bias`` the student's gradient with respect to ||W_k|| includes
        ``-A_p(kappa_k) / tau`` from ``d log C_p / d kappa = -A_p(kappa)``. One pass over the (N, K)
        logits (``bias + logits * (1 / tau)``).

        Args:
            logits: (N, K) raw ``<W_k, z>``. vmf_bias: (K,) or None. temperature: ``tau``.

        Returns:
            (N, K) scaled logits.
        """
        return shifted_logits(logits, temperature, vmf_bias)

    @torch.no_grad()
    def teacher_probs(self, logits: Tensor, vmf_bias: Optional[Tensor] = None) -> Tensor:
        """Centred and sharpened teacher distribution. logits: (N, K) raw ``<W_k, z>``; vmf_bias: the
        teacher's :meth:`vmf_bias` at ``teacher_temp``."""
        center = center_logits if self.centering == 'logit' else center_probabilities
        return center(logits, self.center, self.teacher_temp, vmf_bias)

    @torch.no_grad()
    def update_center(self, logits: Tensor, vmf_bias: Optional[Tensor] = None,
                      teacher_probs: Optional[Tensor] = None) -> None:
        """EMA update of the centre with this step's teacher outputs (all ranks take part; a step with no
        rows on any rank leaves the centre unchanged).

        ``teacher_probs``: this step's :meth:`teacher_probs` of the same rows, computed with the centre
        ``c`` before this update. With probability centering, the batch statistic (the mean uncentred
        distribution ``q``) is then recovered from them instead of by a second softmax: ``P`` is ``q / c``
        renormalised, so ``q = P c / <P, c>`` and ``sum_i q_i = c * (w @ P)`` with ``w_i = 1 / <P_i, c>``."""
        if self.centering == 'logit':
            stat, count = batch_mean(logits, all_reduce=True)
        elif teacher_probs is None:
            scaled = self.scaled_logits(logits, vmf_bias, self.teacher_temp)
            stat, count = batch_mean(torch.softmax(scaled, dim=-1), all_reduce=True)
        else:
            center = self.center.clamp_min(CENTER_EPS).to(teacher_probs.dtype)
            weights = 1.0 / (teacher_probs @ center)
            stat, count = batch_mean(teacher_probs, all_reduce=True, row_weights=weights)
            stat = stat * center
        self.center.copy_(update_center(self.center, stat, self.center_momentum, count))

    def student_logits(self, logits: Tensor, vmf_bias: Optional[Tensor] = None) -> Tensor:
        """(N, K) the student's :meth:`scaled_logits` at ``student_temp``; vmf_bias: the student's
        :meth:`vmf_bias` at ``student_temp``. Computed once per student output and shared by every term
        that output takes part in (L^o_cv and L^o_ci use the same student objects)."""
        return self.scaled_logits(logits, vmf_bias, self.student_temp)

    @staticmethod
    def cross_entropy(student_logits: Tensor, *teacher_probs: Tensor) -> Tuple[Tensor, ...]:
        """Per-row ``-sum_k P_t,k log P_s,k`` for each teacher distribution ``P_t`` (N, K) of the same
        student rows; student_logits: (N, K) from :meth:`student_logits`. Returns one (N,) tensor per
        teacher distribution (:func:`~s3pt_mm.models.utils.cross_entropy.soft_cross_entropy`)."""
        return soft_cross_entropy(student_logits, teacher_probs).unbind(dim=1)

    def forward(self, student_logits: Tensor, teacher_probs: Tensor,
                vmf_bias: Optional[Tensor] = None) -> Tensor:
        """Mean over rows of :meth:`cross_entropy` of the student's raw logits (N, K)."""
        return self.cross_entropy(self.student_logits(student_logits, vmf_bias), teacher_probs)[0].mean()
