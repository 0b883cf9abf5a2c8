"""Tests of s3pt_mm.models.utils.vmf and of the vMF path of the trained loss: the vMF normaliser against scipy,
Eq. 2 (through :class:`DINOLoss`, the code that trains), its gradient through the prototype norms, and the
two centerings."""
import math

import numpy as np
import pytest
import torch
from tests.helpers import run_distributed

from s3pt_mm.models import DINOLoss, DINOProjectionHead
from s3pt_mm.models.utils.vmf import (batch_mean, center_logits, center_probabilities, update_center,
                                      vmf_log_normalizer)

special = pytest.importorskip('scipy.special')

KAPPAS = np.logspace(-2, 5, 57)


def log_bessel_i(nu, kappa):
    """log I_nu(kappa) in float64: log(ive) + kappa, or the power series where ive underflows."""
    kappa = np.asarray(kappa, dtype=np.float64)
    with np.errstate(divide='ignore'):
        out = np.log(special.ive(nu, kappa)) + kappa
    m = np.arange(200.0)
    half = np.log(kappa[:, None] / 2.0)
    terms = 2.0 * m * half - special.gammaln(m + 1.0) - special.gammaln(nu + m + 1.0)
    series = nu * half[:, 0] + special.logsumexp(terms, axis=1)
    small = (kappa < 1.0) | ~np.isfinite(out)
    return np.where(small, series, out)


def log_normalizer_reference(kappa, dim):
    nu = dim / 2.0 - 1.0
    return nu * np.log(kappa) - dim / 2.0 * np.log(2.0 * np.pi) - log_bessel_i(nu, kappa)


def test_reference_series_agrees_with_scipy():
    kappa = np.array([0.3, 0.7, 0.99])
    np.testing.assert_allclose(log_bessel_i(7.0, kappa), np.log(special.iv(7.0, kappa)), rtol=1e-12)


# measured max errors (float64): 256/384 ~1e-11, 64 ~7e-10, 16 ~1.1e-6, 8 ~7.4e-5
@pytest.mark.parametrize('dim, tol', [(256, 1e-9), (384, 1e-9), (64, 1e-8), (16, 5e-6), (8, 5e-4)])
def test_log_normalizer_matches_scipy_float64(dim, tol):
    ours = vmf_log_normalizer(torch.tensor(KAPPAS, dtype=torch.float64), dim).numpy()
    np.testing.assert_allclose(ours, log_normalizer_reference(KAPPAS, dim), rtol=0, atol=tol)


def test_log_normalizer_float32_is_rounding_of_exact_value():
    kappa32 = torch.tensor(KAPPAS, dtype=torch.float32)
    ours = vmf_log_normalizer(kappa32, 256)
    assert ours.dtype == torch.float32
    reference = log_normalizer_reference(kappa32.double().numpy(), 256)
    err = np.abs(ours.double().numpy() - reference)
    assert np.all(err <= 1e-3 + 1.2e-7 * np.abs(reference))
    assert np.all(err[KAPPAS <= 1e3] <= 1e-4)


def test_log_normalizer_at_zero_is_uniform_density_on_sphere():
    for dim in (16, 256):
        log_uniform = math.lgamma(dim / 2.0) - math.log(2.0) - dim / 2.0 * math.log(math.pi)
        value = vmf_log_normalizer(torch.zeros(1, dtype=torch.float64), dim)
        assert value.item() == pytest.approx(log_uniform, abs=1e-6)


@pytest.mark.parametrize('dim, tol', [(256, 1e-6), (384, 1e-6), (16, 1e-5)])
def test_log_normalizer_gradient_float32(dim, tol):
    kappa = torch.tensor(np.concatenate([[0.0], KAPPAS]), dtype=torch.float32, requires_grad=True)
    vmf_log_normalizer(kappa, dim).sum().backward()
    assert torch.isfinite(kappa.grad).all()
    nu = dim / 2.0 - 1.0
    k = KAPPAS
    # d/dk log C_p(k) = -I_{p/2}(k) / I_{p/2-1}(k); at k = 0 the ratio is 0.
    expected = np.concatenate([[0.0], -np.exp(log_bessel_i(nu + 1.0, k) - log_bessel_i(nu, k))])
    np.testing.assert_allclose(kappa.grad.double().numpy(), expected, rtol=0, atol=tol)


def test_log_normalizer_shapes_dtypes_and_limits():
    kappa = torch.rand(2, 3, 4) * 10
    assert vmf_log_normalizer(kappa, 256).shape == (2, 3, 4)
    assert vmf_log_normalizer(kappa.half(), 256).dtype == torch.float32
    with pytest.raises(ValueError):
        vmf_log_normalizer(kappa, 3)


def vmf_probs(z, prototypes, tau):
    """Eq. 2 as the trained code computes it: DINOLoss(vmf=True) on the head's raw logits <W_k, z>."""
    loss = DINOLoss(out_channels=prototypes.shape[0], vmf=True, bottleneck_channels=prototypes.shape[1])
    return torch.softmax(loss.scaled_logits(z @ prototypes.t(), loss.vmf_bias(prototypes.norm(dim=1), tau), tau),
                         dim=-1)


def test_vmf_softmax_is_eq2():
    gen = torch.Generator().manual_seed(0)
    p, num_prototypes, tau = 64, 5, 0.5
    prototypes = torch.randn(num_prototypes, p, generator=gen, dtype=torch.float64)
    prototypes = prototypes * torch.tensor([0.3, 0.8, 1.0, 1.7, 2.5], dtype=torch.float64)[:, None] / \
        prototypes.norm(dim=1, keepdim=True)
    z = torch.nn.functional.normalize(torch.randn(3, p, generator=gen, dtype=torch.float64), dim=-1)
    probs = vmf_probs(z, prototypes, tau).numpy()

    w, zz = prototypes.numpy(), z.numpy()
    kappa = np.linalg.norm(w, axis=1) / tau
    nu = p / 2.0 - 1.0
    c = kappa**nu / ((2.0 * np.pi)**(p / 2.0) * special.iv(nu, kappa))
    numerator = c[None, :] * np.exp(zz @ w.T / tau)
    expected = numerator / numerator.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(probs, expected, rtol=1e-8, atol=0)


def test_vmf_softmax_with_equal_norms_is_dino_softmax():
    gen = torch.Generator().manual_seed(1)
    prototypes = 2.0 * torch.nn.functional.normalize(torch.randn(64, 256, generator=gen), dim=-1)
    z = torch.nn.functional.normalize(torch.randn(7, 256, generator=gen), dim=-1)
    tau = 0.1
    torch.testing.assert_close(vmf_probs(z, prototypes, tau), torch.softmax(z @ prototypes.t() / tau, dim=-1),
                               rtol=1e-5, atol=1e-6)


def _student_loss(head, loss, x, teacher_probs):
    """The student's side of a training step: scaled logits from the head's product, then the cross-entropy."""
    return loss.cross_entropy(loss.student_logits(head, x, 'global'), teacher_probs)[0].mean()


@pytest.mark.parametrize('norm, tau', [(5.0, 0.1), (10.0, 0.04)])
def test_student_gradient_reaches_the_normaliser_through_the_prototype_norms(norm, tau):
    """Paper Eq. 2: P_k depends on ||W_k|| also through log C_p(||W_k|| / tau). The magnitude gradient of
    the trained head + loss equals a float64 central finite difference of the same loss, and contains
    the normaliser's part -A_p(kappa) / tau (A_p = 0.19 at ||W|| = 5, tau = 0.1; 0.61 at 10, 0.04)."""
    torch.manual_seed(0)
    p, k = 16, 6
    head = DINOProjectionHead(in_channels=8, num_prototypes=k, num_object_prototypes=0, hidden_channels=12,
                              bottleneck_channels=p, norm_last_layer=False).double()
    loss = DINOLoss(out_channels=k, student_temp=tau, vmf=True, centering='probability',
                    bottleneck_channels=p).double()
    magnitude = head.prototypes['global'].magnitude
    with torch.no_grad():
        magnitude.copy_(torch.linspace(0.8, 1.2, k, dtype=torch.float64)[:, None] * norm)
    x = torch.randn(4, 8, dtype=torch.float64)
    teacher_probs = torch.softmax(torch.randn(4, k, dtype=torch.float64), dim=-1)
    _student_loss(head, loss, x, teacher_probs).backward()
    eps = 1e-6
    numeric = torch.empty(k, dtype=torch.float64)
    for i in range(k):
        with torch.no_grad():
            magnitude[i] += eps
            up = _student_loss(head, loss, x, teacher_probs)
            magnitude[i] -= 2 * eps
            down = _student_loss(head, loss, x, teacher_probs)
            magnitude[i] += eps
        numeric[i] = (up - down) / (2 * eps)
    torch.testing.assert_close(magnitude.grad[:, 0], numeric, rtol=1e-6, atol=1e-9)

    # The part of that gradient that comes from log C_p: d/dg_k of sum_n w_nk log C_p(g_k / tau), with
    # w_nk = d loss / d scaled_logit_nk = (P_s - P_t)_nk / N, is (sum_n w_nk) * (-A_p(g_k / tau)) / tau.
    with torch.no_grad():
        scaled = loss.scaled_logits(head(x, 'global'), loss.vmf_bias(head.prototype_norms('global'), tau), tau)
        weights = ((torch.softmax(scaled, -1) - teacher_probs) / x.shape[0]).sum(0)
        kappa = magnitude[:, 0].numpy() / tau
        nu = p / 2.0 - 1.0
        a_p = np.exp(log_bessel_i(nu + 1.0, kappa) - log_bessel_i(nu, kappa))
        normaliser_part = weights.numpy() * (-a_p) / tau
    head.zero_grad()
    detached = DINOLoss(out_channels=k, student_temp=tau, vmf=True, bottleneck_channels=p).double()
    logits = head(x, 'global')
    bias = detached.vmf_bias(head.prototype_norms('global').detach(), tau)
    log_ps = torch.log_softmax(detached.scaled_logits(logits, bias, tau), -1)
    (-(teacher_probs * log_ps).sum(-1).mean()).backward()  # the gradient without the normaliser's part
    np.testing.assert_allclose((magnitude.grad[:, 0] + torch.from_numpy(normaliser_part)).numpy(),
                               numeric.numpy(), rtol=1e-6, atol=1e-9)


def test_center_logits_hand_example():
    t = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.5, -1.0]])
    c = torch.tensor([1.0, 0.0, 2.0])
    probs = center_logits(t, c, temperature=0.5)
    rows = [[0.0, 4.0, 2.0], [-2.0, 1.0, -6.0]]  # (t - c) / 0.5
    expected = torch.tensor([[math.exp(v) / sum(math.exp(u) for u in row) for v in row] for row in rows])
    torch.testing.assert_close(probs, expected)


def test_center_probabilities_hand_example():
    t = torch.tensor([[0.0, math.log(2.0), math.log(3.0)]])  # softmax(t) = [1, 2, 3] / 6
    c = torch.tensor([0.5, 0.25, 0.25])
    # p / c = [2, 8, 12] / 6 -> renormalised [1, 4, 6] / 11
    torch.testing.assert_close(center_probabilities(t, c), torch.tensor([[1.0, 4.0, 6.0]]) / 11.0)
    # the temperature applies to the logits before the division
    torch.testing.assert_close(center_probabilities(2.0 * t, c, temperature=2.0),
                               torch.tensor([[1.0, 4.0, 6.0]]) / 11.0)


def test_center_probabilities_with_uniform_center_is_plain_softmax():
    t = torch.randn(6, 10)
    uniform = torch.full((10, ), 0.1)
    torch.testing.assert_close(center_probabilities(t, uniform, 0.07), torch.softmax(t / 0.07, dim=-1))


def _kl_to_uniform(probs):
    marginal = probs.mean(dim=0)
    return (marginal * torch.log(marginal * marginal.numel())).sum().item()


def test_centering_with_batch_statistic_flattens_the_marginal():
    gen = torch.Generator().manual_seed(2)
    bias = torch.linspace(0.0, 3.0, 32)  # some clusters are used much more than others
    t = torch.randn(512, 32, generator=gen) + bias
    tau = 0.5
    raw = torch.softmax(t / tau, dim=-1)

    by_logits = center_logits(t, batch_mean(t)[0], tau)
    by_probs = center_probabilities(t, batch_mean(raw)[0], tau)
    for probs in (by_logits, by_probs):
        torch.testing.assert_close(probs.sum(dim=-1), torch.ones(512))
        assert (probs >= 0).all()
        assert _kl_to_uniform(probs) < 0.5 * _kl_to_uniform(raw)


def test_update_center_and_batch_mean():
    center = torch.tensor([1.0, 2.0])
    torch.testing.assert_close(update_center(center, torch.tensor([3.0, 4.0]), 0.9), torch.tensor([1.2, 2.2]))
    values = torch.arange(12.0).reshape(2, 3, 2)
    torch.testing.assert_close(batch_mean(values), (torch.tensor([5.0, 6.0]), torch.tensor(6.0)))
    # without an initialised process group all_reduce=True is the local mean
    torch.testing.assert_close(batch_mean(values, all_reduce=True)[0], torch.tensor([5.0, 6.0]))


def test_a_step_without_rows_leaves_the_centre_unchanged():
    """CrIBo divides by the all-reduced object count, which is 0 when no image shares a cluster between
    its views; the centre must then stay as it is (not be pulled to 0, which for probability centering
    would put log(0) into the next teacher distributions)."""
    center = torch.tensor([0.25, 0.75])
    stat, count = batch_mean(torch.zeros(0, 2))
    assert count.item() == 0
    torch.testing.assert_close(update_center(center, stat, 0.9, count), center)
    stat, count = batch_mean(torch.tensor([[1.0, 0.0]]))
    torch.testing.assert_close(update_center(center, stat, 0.9, count), torch.tensor([0.325, 0.675]))


def _rank_batch_mean(rank):
    # rank 0 has one row of 0s, rank 1 three rows of 4s: the row-weighted mean is 3
    values = torch.zeros(1, 2) if rank == 0 else torch.full((3, 2), 4.0)
    return batch_mean(values, all_reduce=True)[0]


def test_batch_mean_all_reduce_weights_ranks_by_rows():
    for result in run_distributed(_rank_batch_mean):
        torch.testing.assert_close(result, torch.tensor([3.0, 3.0]))
