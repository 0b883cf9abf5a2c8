"""soft_cross_entropy (s3pt_mm.models.utils.cross_entropy) against the definition -sum_k P_k log softmax(s)_k
and its autograd gradient."""
import pytest
import torch

from s3pt_mm.models.utils.cross_entropy import soft_cross_entropy


def _definition(logits, target):
    return -(target * torch.log_softmax(logits, dim=-1)).sum(dim=-1)


def test_values_and_gradient_equal_the_definition_for_several_targets():
    g = torch.Generator().manual_seed(0)
    logits = (5 * torch.randn(6, 40, generator=g, dtype=torch.float64)).requires_grad_()
    targets = [torch.softmax(3 * torch.randn(6, 40, generator=g, dtype=torch.float64), -1) for _ in range(3)]
    weights = torch.randn(6, 3, generator=g, dtype=torch.float64)  # any upstream gradient per row and target
    ours = soft_cross_entropy(logits, targets)
    (ours * weights).sum().backward()
    grad = logits.grad.clone()
    logits.grad = None
    expected = torch.stack([_definition(logits, t) for t in targets], dim=1)
    (expected * weights).sum().backward()
    torch.testing.assert_close(ours, expected.detach(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grad, logits.grad, rtol=1e-12, atol=1e-12)
    assert torch.autograd.gradcheck(lambda s: soft_cross_entropy(s, targets), (logits.detach().requires_grad_(), ))


def test_large_logits_stay_finite():
    logits = torch.tensor([[1000.0, 0.0, -1000.0]], requires_grad=True)
    target = torch.tensor([[0.5, 0.5, 0.0]])
    loss = soft_cross_entropy(logits, [target])
    loss.sum().backward()
    torch.testing.assert_close(loss, torch.tensor([[500.0]]))
    torch.testing.assert_close(logits.grad, torch.tensor([[0.5, -0.5, 0.0]]))


def test_targets_must_be_given_and_constant():
    logits = torch.randn(2, 3)
    with pytest.raises(ValueError, match='at least one target'):
        soft_cross_entropy(logits, [])
    with pytest.raises(ValueError, match='constants'):
        soft_cross_entropy(logits, [torch.softmax(torch.randn(2, 3, requires_grad=True), -1)])


def test_blocks_of_rows_give_the_same_values(monkeypatch):
    """The forward pass works over blocks of rows on a CPU (uneven last block here): same values."""
    import s3pt_mm.models.utils.cross_entropy as module
    g = torch.Generator().manual_seed(1)
    logits = 5 * torch.randn(7, 40, generator=g, dtype=torch.float64)
    targets = [torch.softmax(torch.randn(7, 40, generator=g, dtype=torch.float64), -1) for _ in range(2)]
    whole = soft_cross_entropy(logits, targets)
    monkeypatch.setattr(module, 'CPU_BLOCK_ELEMENTS', 3 * 40)
    torch.testing.assert_close(soft_cross_entropy(logits, targets), whole, rtol=0, atol=0)
    expected = torch.stack([_definition(logits, t) for t in targets], dim=1)
    torch.testing.assert_close(whole, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize('block_elements', [0, 1, 40, 10**12])
def test_no_rows_give_no_terms_whatever_the_block_size(monkeypatch, block_elements):
    """A rank with no object (O = 0) calls the cross-entropy on (0, K) logits: (0, T) terms and a (0, K)
    gradient, for any block size (on a GPU the block is the whole tensor, 0 elements here)."""
    import s3pt_mm.models.utils.cross_entropy as module
    monkeypatch.setattr(module, 'CPU_BLOCK_ELEMENTS', block_elements)
    logits = torch.zeros(0, 40, requires_grad=True)
    out = soft_cross_entropy(logits, [torch.zeros(0, 40), torch.zeros(0, 40)])
    assert out.shape == (0, 2)
    out.sum().backward()
    assert logits.grad.shape == (0, 40)
