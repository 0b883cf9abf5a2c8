"""von Mises-Fisher (vMF) normalised assignment probabilities and teacher centering (paper §3.1).

Pure tensor functions (no OpenMMLab), used by the semantic-clustering heads and losses.

* :func:`vmf_log_normalizer` -- ``log C_p(kappa)`` of the vMF density on the unit sphere ``S^{p-1}``.
* :func:`shifted_logits` -- ``logits / tau + shift``, the temperature and a per-prototype shift (the vMF
  term of Eq. 2, a centre) applied in one pass.
* :func:`center_logits` / :func:`center_probabilities` -- the teacher's centred probabilities of DINO /
  CrIBo (centering in logit space) and of DINO-vMF / S3PT (centering in probability space, Table 7);
  :func:`logit_centering_shift` / :func:`probability_centering_shift` -- the per-prototype shift each
  adds to the teacher's scaled logits. A training step applies these shifts inside the prototype product
  (:meth:`DINOLoss.teacher_targets`); the two ``center_*`` functions are the formulas it is tested against.
* :func:`batch_mean` / :func:`update_center` -- the EMA of the centre, with the batch statistic optionally
  all-reduced over the DDP ranks.
"""
import math
from typing import Optional, Tuple

import torch
import torch.distributed as dist
from torch import Tensor

__all__ = [
    'vmf_log_normalizer', 'shifted_logits', 'logit_centering_shift', 'probability_centering_shift',
    'center_logits', 'center_probabilities', 'batch_mean', 'update_center'
]

# Debye polynomials u_k(t) of the uniform asymptotic expansion of I_nu (DLMF 10.41.10), as coefficients
# of t^0, t^1, ...: u_0 = 1, u_1 = (3t - 5t^3)/24, ... Terms up to u_4 keep the truncation error below
# 1e-10 for p >= 64 (see vmf_log_normalizer).
_DEBYE_POLYNOMIALS = (
    ((1.0, ), 1.0),
    ((0.0, 3.0, 0.0, -5.0), 24.0),
    ((0.0, 0.0, 81.0, 0.0, -462.0, 0.0, 385.0), 1152.0),
    ((0.0, 0.0, 0.0, 30375.0, 0.0, -369603.0, 0.0, 765765.0, 0.0, -425425.0), 414720.0),
    ((0.0, 0.0, 0.0, 0.0, 4465125.0, 0.0, -94121676.0, 0.0, 349922430.0, 0.0, -446185740.0, 0.0,
      185910725.0), 39813120.0),
)


def _polyval(coefficients, t: Tensor) -> Tensor:
    """sum_i coefficients[i] * t**i by Horner's rule."""
    out = torch.full_like(t, coefficients[-1])
    for c in reversed(coefficients[:-1]):
        out = out * t + c
    return out


def vmf_log_normalizer(kappa: Tensor, dim: int) -> Tensor:
    r"""``log C_p(kappa)`` of the vMF distribution on the unit sphere :math:`S^{p-1}`, ``p = dim``.

    .. math::
        C_p(\kappa) = \frac{\kappa^{\nu}}{(2\pi)^{p/2} I_{\nu}(\kappa)}, \qquad \nu = p/2 - 1,

    the exact value: no constant is dropped. torch has no modified Bessel function :math:`I_\nu` of
    large order, so :math:`\log I_\nu` is the uniform asymptotic (Debye) expansion for large order
    (DLMF 10.41.3), with :math:`z = \kappa/\nu`, :math:`s = \sqrt{1+z^2}`, :math:`t = 1/s`:

    .. math::
        \log I_\nu(\nu z) = \nu s + \nu\log\frac{z}{1+s} - \tfrac12\log(2\pi\nu)
            - \tfrac14\log(1+z^2) + \log\sum_{k=0}^{4} \frac{u_k(t)}{\nu^k}.

    It is uniform in :math:`z \in [0, \infty)`, so one formula covers small and large ``kappa``. The
    :math:`\nu\log\kappa` term is cancelled analytically against :math:`\nu\log z`, giving

    .. math::
        \log C_p(\kappa) = \nu\log\nu + \nu\log(1+s) - \nu s + \tfrac12\log(2\pi\nu)
            + \tfrac14\log(1+z^2) - \log\sum_k \frac{u_k(t)}{\nu^k} - (\nu+1)\log(2\pi),

    which has no cancellation of large terms, is finite at ``kappa = 0`` (where it equals the log of
    the uniform density on the sphere) and is differentiable everywhere; its derivative approximates
    :math:`d\log C_p/d\kappa = -I_{p/2}(\kappa)/I_{p/2-1}(\kappa)` to the same order.

    Accuracy (max abs. error over ``kappa`` log-spaced in ``[1e-2, 1e5]``, float64, against
    ``scipy.special.ive`` / the power series; ``tests/test_models/test_utils/test_vmf.py``): ``dim`` 256
    and 384: < 1e-10; 64: < 1e-9; 16: ~1e-6; 8: ~1e-4; 4: ~1e-2 (the expansion is in powers of ``1/nu``:
    use ``dim >= 8``).
    It is evaluated in float64 (``kappa`` is one value per prototype, so this costs nothing) and
    returned in the dtype of ``kappa``: a float32 result is the float32 rounding of the float64 one
    (relative error ~6e-8 of ``|log C_p|``, which grows like ``kappa``: ~1e-2 absolute at
    ``kappa = 1e5``), and its gradient is finite for all ``kappa >= 0``.

    Args:
        kappa: concentrations ``>= 0``, any shape (float16/bfloat16 give a float32 result).
        dim: the dimension ``p`` of the ambient space (``p >= 4``).

    Returns:
        ``log C_p(kappa)``, same shape as ``kappa``, float32 or float64.
    """
    if dim < 4:
        raise ValueError(f'vmf_log_normalizer needs dim >= 4 (Bessel order >= 1), got {dim}')
    out_dtype = kappa.dtype if kappa.dtype in (torch.float32, torch.float64) else torch.float32
    nu = dim / 2.0 - 1.0
    z = kappa.double() / nu
    z2 = z * z
    s = torch.sqrt(1.0 + z2)
    t = 1.0 / s
    series = sum(_polyval(coefficients, t) / (denominator * nu**k)
                 for k, (coefficients, denominator) in enumerate(_DEBYE_POLYNOMIALS))
    constant = nu * math.log(nu) + 0.5 * math.log(2.0 * math.pi * nu) - (nu + 1.0) * math.log(2.0 * math.pi)
    log_c = constant + nu * (torch.log1p(s) - s) + 0.25 * torch.log1p(z2) - torch.log(series)
    return log_c.to(out_dtype)


#: floor of the probability centre inside the log of :func:`center_probabilities`
CENTER_EPS = 1e-12


def shifted_logits(logits: Tensor, temperature: float, shift: Optional[Tensor] = None) -> Tensor:
    """``logits / temperature + shift`` with ``shift`` (K,) or None: the (N, K) scaling and shift in one
    pass (``shift + logits * (1 / temperature)``)."""
    if shift is None:
        return logits * (1.0 / temperature)
    return torch.add(shift.to(logits.dtype), logits, alpha=1.0 / temperature)


def logit_centering_shift(center: Tensor, temperature: float) -> Tensor:
    """(K,) ``-c / tau_t``: what logit centering adds to the teacher's ``logits / tau_t``
    (:func:`center_logits`)."""
    return -center / temperature


def probability_centering_shift(center: Tensor, eps: float = CENTER_EPS) -> Tensor:
    """(K,) ``-log c`` (``c`` floored at ``eps``): what probability centering adds to the teacher's
    ``logits / tau_t`` (:func:`center_probabilities`)."""
    return -torch.log(center.clamp_min(eps))


def center_logits(logits: Tensor, center: Tensor, temperature: float = 1.0,
                  bias: Optional[Tensor] = None) -> Tensor:
    r"""Teacher probabilities with DINO's centering in logit space (DINO, CrIBo).

    :math:`P_t = \operatorname{softmax}((t - c)/\tau_t)`, where ``c`` is the EMA of the batch mean of
    the teacher logits ``t`` (:func:`batch_mean` of ``logits``, then :func:`update_center`, momentum
    0.9; ``c`` starts at 0) -- Caron et al. 2021, Eq. 4; CrIBo ``CrIBoLoss``. With a per-prototype
    ``bias`` ``b`` (the vMF term of Eq. 2, for the CrIBo + vMF ablation with logit centering):
    :math:`\operatorname{softmax}((t - c)/\tau_t + b)`.

    Args:
        logits: (..., K) teacher logits ``t``.
        center: (K,) centre ``c`` (a logit).
        temperature: teacher temperature ``tau_t``.
        bias: (K,) or None.

    Returns:
        (..., K) probabilities (sum to 1 over the last dim).
    """
    shift = logit_centering_shift(center, temperature)
    return torch.softmax(shifted_logits(logits, temperature, shift if bias is None else shift + bias), dim=-1)


def center_probabilities(logits: Tensor, center: Tensor, temperature: float = 1.0,
                         bias: Optional[Tensor] = None, eps: float = CENTER_EPS) -> Tensor:
    r"""Teacher probabilities with centering in probability space (DINO-vMF, S3PT Table 7).

    Govindarajan et al. (ICLR 2023) centre the teacher in probability space instead of logit space:
    the centre is the EMA of the batch mean of the (uncentred) teacher probabilities,

    .. math::
        c \leftarrow m\,c + (1-m)\,\frac{1}{B}\sum_i q_i, \quad m = 0.9,
        \qquad q = \operatorname{softmax}(t/\tau_t + b),

    an estimate of the marginal distribution over the K clusters (``b``: the vMF term of Eq. 2, or 0),
    and each teacher distribution is divided by it and renormalised:

    .. math::
        P_{t,k} = \frac{q_k / c_k}{\sum_j q_j / c_j} = \operatorname{softmax}(t/\tau_t + b - \log c)_k.

    Both centerings shift cluster ``k``'s logit by a running statistic; logit centering uses the mean
    logit, which with vMF logits (Eq. 2) mixes the concentration-dependent normaliser ``log C_p`` into
    it, whereas ``c_k`` here is the running estimate of how often cluster ``k`` is used, and dividing by
    it damps over-used clusters in proportion to their usage (a prior correction of the mixture
    posterior). ``c`` must start at the uniform distribution ``1/K`` (then this is plain
    ``softmax(t/tau_t + b)``: a constant ``log c`` cancels). The batch statistic is
    ``batch_mean(softmax(logits / temperature + bias))``. This is our reading of the paper's
    "centering in probability space" (§3.1, Table 7): the DINO-vMF code could not be consulted.

    Args:
        logits: (..., K) teacher logits ``t``.
        center: (K,) centre ``c``, a probability vector (> 0).
        temperature: teacher temperature ``tau_t`` applied to ``logits``.
        bias: (K,) or None.
        eps: floor of ``c`` inside the log.

    Returns:
        (..., K) probabilities (sum to 1 over the last dim).
    """
    shift = probability_centering_shift(center, eps)
    return torch.softmax(shifted_logits(logits, temperature, shift if bias is None else shift + bias), dim=-1)


def batch_mean(values: Tensor, all_reduce: bool = False,
               row_weights: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
    """Mean of ``values`` (..., K) over all leading dims, optionally over all DDP ranks.

    With ``all_reduce=True`` and ``torch.distributed`` initialised, the sums and the counts are summed
    over the ranks (so ranks with different numbers of rows are weighted by their rows, as in CrIBo's
    centroid centre); otherwise the local mean. Every rank takes part in the reduction even with no rows.
    With ``row_weights`` (one per row) the sums are weighted, ``sum_i w_i v_i`` (one matrix-vector
    product), and still divided by the number of rows.

    Returns:
        ((K,) mean, () number of rows): the batch statistic for :func:`update_center` (0 where there are
        no rows at all) and its row count.
    """
    flat = values.reshape(-1, values.shape[-1])
    total = flat.sum(dim=0) if row_weights is None else row_weights.reshape(-1).to(flat.dtype) @ flat
    count = torch.tensor(float(flat.shape[0]), device=flat.device, dtype=total.dtype)
    if all_reduce and dist.is_available() and dist.is_initialized():
        dist.all_reduce(total)
        dist.all_reduce(count)
    return total / count.clamp_min(1.0), count


def update_center(center: Tensor, batch_stat: Tensor, momentum: float = 0.9,
                  count: Optional[Tensor] = None) -> Tensor:
    """EMA of the centre: ``c <- momentum * c + (1 - momentum) * batch_stat`` (returns the new centre).

    ``batch_stat`` is the already all-reduced batch statistic (:func:`batch_mean` of the teacher logits
    for :func:`center_logits`, of the teacher probabilities for :func:`center_probabilities`). With
    ``count`` (the rows behind it, from :func:`batch_mean`), a step without any row (e.g. no object shared
    by the two views on any rank) leaves the centre unchanged instead of pulling it towards 0; the choice
    is made on the device, without a host synchronisation.
    """
    new = center * momentum + batch_stat.to(center.dtype) * (1.0 - momentum)
    if count is None:
        return new
    return torch.where(count > 0, new, center)
