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

The centre's batch statistic is all-reduced over DDP ranks. A training step computes both sides inside
the head's matrix product: :meth:`DINOLoss.student_logits` and :meth:`DINOLoss.teacher_targets`.
"""
from typing import Optional, Tuple

import torch
import torch.nn as nn
from mmpretrain.registry import MODELS
from torch import Tensor

from ..utils.cross_entropy import soft_cross_entropy
from ..utils.precision import float32_region
from ..utils.vmf import (CENTER_EPS, batch_mean, logit_centering_shift, probability_centering_shift, shifted_logits,
                         update_center, vmf_log_normalizer)


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
        temperature (student: differentiable, :meth:`student_logits`; teacher: under ``no_grad``,
        :meth:`teacher_targets`).

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

    def teacher_shift(self, vmf_bias: Optional[Tensor]) -> Tensor:
        """(K,) what centering and the vMF term add to the teacher's ``<W_k, z> / tau_t``: ``-c / tau_t``
        (logit centering) or ``-log c`` (probability centering), plus ``vmf_bias`` if any."""
        shift = (logit_centering_shift(self.center, self.teacher_temp) if self.centering == 'logit' else
                 probability_centering_shift(self.center))
        return shift if vmf_bias is None else shift + vmf_bias

    @torch.no_grad()
    def teacher_targets(self, head: nn.Module, x: Tensor, kind: str, center_rows: Optional[int] = None) -> Tensor:
        """The teacher's centred and sharpened distributions (:func:`center_logits` /
        :func:`center_probabilities` of its raw logits) of its features x (N, C)
        under the head's ``kind`` prototypes, then the EMA update of the centre with the first
        ``center_rows`` rows (default: all; CrIBo's retrieved neighbours follow the step's own objects and
        are taught but do not enter the centre). All ranks take part in the update; a step with no row on
        any rank leaves the centre unchanged.

        One (N, K) tensor is written: the centring shift and the vMF term go into the head's matrix
        product (:meth:`teacher_shift`) and the softmax is taken in place. The statistics of the centre:

        * logit centering: the mean teacher logit, which is the logits of the mean embedding (the logits
          are linear in z), so no raw logits are kept;
        * probability centering: the mean uncentred distribution ``q``, recovered from the centred ``P``
          (computed with the centre ``c`` before this update): ``P`` is ``q / c`` renormalised, so
          ``q = P c / <P, c>`` and ``sum_i q_i = c * (w @ P)`` with ``w_i = 1 / <P_i, c>``.

        The statistic is computed in float32 with autocast off (:func:`float32_region`): at initialisation
        ``<P_i, c> = 1/K`` and ``w_i = K = 65536`` exceeds fp16's largest value (65504), so under fp16
        autocast the products would give Inf, then a NaN centre.

        Returns:
            (N, K) probabilities (float32 under autocast, :meth:`PrototypeLayer.forward`).
        """
        z = head.embed(x)
        layer = head.prototypes[kind]
        bias = self.vmf_bias(head.prototype_norms(kind), self.teacher_temp)
        probs = layer(z, self.teacher_temp, self.teacher_shift(bias))
        probs = torch.softmax(probs, dim=-1, out=probs)
        rows = slice(0, probs.shape[0] if center_rows is None else center_rows)
        with float32_region():
            if self.centering == 'logit':
                mean_z, count = batch_mean(z[rows].float(), all_reduce=True)
                stat = layer(mean_z[None])[0]
            else:
                center = self.center.clamp_min(CENTER_EPS).float()
                teacher = probs[rows].float()
                weights = 1.0 / (teacher @ center)
                stat, count = batch_mean(teacher, all_reduce=True, row_weights=weights)
                stat = stat * center
            self.center.copy_(update_center(self.center, stat, self.center_momentum, count))
        return probs

    def student_logits(self, head: nn.Module, x: Tensor, kind: str) -> Tensor:
        """(N, K) the student's :meth:`scaled_logits` at ``student_temp`` for features x (N, C): the head's
        ``kind`` prototypes with the temperature and, with vMF, the student's :meth:`vmf_bias` (computed
        once per call, differentiable) applied inside the head's matrix product
        (:meth:`~s3pt_mm.models.heads.DINOProjectionHead.forward`), so no separate (N, K) pass."""
        bias = self.vmf_bias(head.prototype_norms(kind), self.student_temp)
        return head(x, kind, self.student_temp, bias)

    @staticmethod
    def cross_entropy(student_logits: Tensor, *teacher_probs: Tensor) -> Tuple[Tensor, ...]:
        """Per-row ``-sum_k P_t,k log P_s,k`` for each teacher distribution ``P_t`` (N, K) of the same
        student rows; student_logits: (N, K) scaled (:meth:`student_logits`). One call takes every teacher
        distribution that teaches these rows (L^o_cv and L^o_ci use the same student objects). Returns
        one (N,) tensor per teacher distribution
        (:func:`~s3pt_mm.models.utils.cross_entropy.soft_cross_entropy`)."""
        return soft_cross_entropy(student_logits, teacher_probs).unbind(dim=1)

    def forward(self, student_logits: Tensor, teacher_probs: Tensor,
                vmf_bias: Optional[Tensor] = None) -> Tensor:
        """Mean over rows of :meth:`cross_entropy` of the student's raw logits (N, K)."""
        return self.cross_entropy(self.scaled_logits(student_logits, vmf_bias, self.student_temp),
                                  teacher_probs)[0].mean()
