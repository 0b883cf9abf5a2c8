"""The S3PT algorithm (and DINO / CrIBo as its configurations) on a tiny ViT: loss terms, teacher EMA,
prototypes in the graph, CrIBo's cross-image averaging, steps without objects, DINO's ViT initialisation,
centering of each mode, and learning on a fixed batch."""
import math

import pytest
import torch
from mmengine.optim import build_optim_wrapper
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import s3pt_mm.models  # noqa: F401
from s3pt_mm.engine.hooks.teacher_hooks import cosine_momentum, linear_warmup

from tests.helpers import IMG, PATCH, K, fake_pretrain_batch as fake_batch, tiny_model


@pytest.fixture(autouse=True)
def _mmpretrain_scope():
    """Build from mmpretrain's registry whatever default scope earlier tests left behind."""
    from mmengine.registry import init_default_scope
    init_default_scope('mmpretrain')


@pytest.mark.parametrize('method,expected', [
    ('dino', {'loss_global'}),
    ('cribo', {'loss_global', 'loss_object_cv', 'loss_object_ci', 'num_objects'}),
    ('s3pt', {'loss_global', 'loss_object_cv', 'loss_object_ci', 'num_objects'}),
])
def test_loss_terms_of_each_method(method, expected):
    torch.manual_seed(0)
    model = tiny_model(method)
    data = model.data_preprocessor(fake_batch(), training=True)
    losses = model(**data, mode='loss')
    assert set(losses) == expected
    for name, value in losses.items():
        assert torch.isfinite(value), name
    # A cross-entropy over K classes is at least 0 and, for a near-uniform start, close to log K.
    assert 0 < losses['loss_global'].item() < 2 * math.log(K)
    if method != 'dino':
        assert 1 <= losses['num_objects'].item() <= model.clustering.num_clusters
        # The queue was empty: no cross-image term yet, but this step's objects were stored.
        assert losses['loss_object_ci'].item() == 0
        assert len(model.queue) > 0
        losses = model(**data, mode='loss')  # same images again: every object finds itself
        assert losses['loss_object_ci'].item() > 0


def test_teacher_starts_as_student_and_follows_the_ema_formula():
    torch.manual_seed(0)
    model = tiny_model('s3pt')
    for s, t in zip(model.backbone.parameters(), model.teacher.backbone.parameters()):
        torch.testing.assert_close(s, t)
    assert all(not p.requires_grad for p in model.teacher.parameters())
    model.train()
    assert not model.teacher.training and model.backbone.training

    with torch.no_grad():
        for p in model.backbone.parameters():
            p.add_(1.0)
    teacher_before = [p.clone() for p in model.teacher.backbone.parameters()]
    m = 0.9
    model.update_teacher(m)
    for s, t0, t in zip(model.backbone.parameters(), teacher_before, model.teacher.backbone.parameters()):
        torch.testing.assert_close(t, m * t0 + (1 - m) * s)


def test_prototypes_always_take_part_in_the_graph():
    """DDP without an unused-parameter search needs every trainable parameter in every step's graph: the
    prototypes (whose gradients the optimizer wrapper drops while frozen) included."""
    torch.manual_seed(0)
    model = tiny_model('cribo')
    data = model.data_preprocessor(fake_batch(), training=True)
    sum(v for k, v in model(**data, mode='loss').items() if k.startswith('loss')).backward()
    unused = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not unused


def reference_cross_image_loss(student_v1, student_v2, nn_probs_v1, nn_probs_v2, mask_v1, mask_v2):
    """CrIBo ``CrIBoLoss.forward``, the nn term for epoch >= 1, restated: both sums divided by the number of
    view-1 bootstrapped objects, then by 2; 0 when no view-1 object is bootstrapped."""
    nb = int(mask_v1.sum())
    if nb == 0:
        return torch.tensor(0.0)
    ce_1 = -(nn_probs_v1 * torch.log_softmax(student_v2, -1)).sum(-1)[mask_v1].sum() / nb
    ce_2 = -(nn_probs_v2 * torch.log_softmax(student_v1, -1)).sum(-1)[mask_v2].sum() / nb
    return (ce_1 + ce_2) / 2


@pytest.mark.parametrize('masks', [([True, False, False], [True, True, True]),
                                   ([False, False, False], [True, False, True]),
                                   ([True, True, False], [False, False, False])])
def test_cross_image_loss_is_averaged_as_in_cribo(masks):
    torch.manual_seed(0)
    model = tiny_model('cribo')
    loss_fn = model.object_loss
    o = 3
    mask_v1, mask_v2 = torch.tensor(masks[0]), torch.tensor(masks[1])
    s_logits = (torch.randn(o, K), torch.randn(o, K))
    nn_probs = (torch.softmax(torch.randn(o, K), -1), torch.softmax(torch.randn(o, K), -1))
    term_v2, = loss_fn.cross_entropy(s_logits[1] / loss_fn.student_temp, nn_probs[0])  # CrIBo: no vMF
    term_v1, = loss_fn.cross_entropy(s_logits[0] / loss_fn.student_temp, nn_probs[1])
    model.set_epoch(1)
    ours = model._cross_image_loss(term_v2, term_v1, mask_v1, mask_v2)
    expected = reference_cross_image_loss(s_logits[0] / loss_fn.student_temp, s_logits[1] / loss_fn.student_temp,
                                          nn_probs[0], nn_probs[1], mask_v1, mask_v2)
    torch.testing.assert_close(ours, expected)
    model.set_epoch(0)  # before cross_image_start_epoch = 1 (CrIBo: epoch >= 1)
    model.cross_image_start_epoch = 1
    assert model._cross_image_loss(term_v2, term_v1, mask_v1, mask_v2).item() == 0


def test_cross_image_term_needs_the_epoch():
    torch.manual_seed(0)
    model = tiny_model('cribo')
    model.epoch = None
    data = model.data_preprocessor(fake_batch(), training=True)
    with pytest.raises(RuntimeError, match='ModelEpochHook'):
        model(**data, mode='loss')


def test_a_batch_without_shared_objects_still_trains_every_parameter(monkeypatch):
    """No cluster present in both views (e.g. disjoint crops): the object terms are 0, the centre stays,
    the queue records the images, and every trainable parameter is still in the graph."""
    torch.manual_seed(0)
    model = tiny_model('s3pt')
    data = model.data_preprocessor(fake_batch(), training=True)
    n = (IMG // PATCH) ** 2
    disjoint = torch.cat([torch.zeros(n, dtype=torch.long), torch.ones(n, dtype=torch.long)])
    monkeypatch.setattr(model.clustering, 'forward', lambda tokens, *a: disjoint.expand(tokens.shape[0], -1))
    center = model.object_loss.center.clone()
    losses = model(**data, mode='loss')
    assert losses['num_objects'].item() == 0
    assert losses['loss_object_cv'].item() == 0 and losses['loss_object_ci'].item() == 0
    torch.testing.assert_close(model.object_loss.center, center)
    assert model.queue.image_counts.sum().item() == 0 and int(model.queue.image_ptr) == 2
    sum(v for k, v in losses.items() if k.startswith('loss')).backward()
    assert not [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]


def test_backbone_starts_as_dino_initialises_its_vit():
    """DINO / CrIBo ViT: every Linear trunc-normal(0.02) with zero bias, LayerNorm 1 / 0, [CLS] token and
    position embedding trunc-normal(0.02) (mmpretrain's ViT: [CLS] 0, FFN Xavier with N(0, 1e-6) bias)."""
    torch.manual_seed(0)
    vit = MODELS.build(dict(type='DINOVisionTransformer', arch='deit-small', img_size=224, patch_size=16,
                            out_type='raw'))
    vit.init_weights()
    linears = [m for m in vit.modules() if isinstance(m, torch.nn.Linear)]
    assert len(linears) == 12 * 4  # qkv, proj, 2 FFN layers per block
    for m in linears:
        assert abs(m.weight.std().item() - 0.02) < 0.002 and m.weight.abs().max() <= 2.0
        assert torch.count_nonzero(m.bias) == 0
    for m in vit.modules():
        if isinstance(m, torch.nn.LayerNorm):
            assert torch.all(m.weight == 1) and torch.all(m.bias == 0)
    assert abs(vit.cls_token.std().item() - 0.02) < 0.005
    assert abs(vit.pos_embed.std().item() - 0.02) < 0.002


@pytest.mark.parametrize('method', ['dino', 's3pt'])
def test_loss_decreases_on_a_fixed_batch(method):
    torch.manual_seed(0)
    model = tiny_model(method)
    model.train()
    optim = build_optim_wrapper(model, dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.0)))
    data = fake_batch(batch=4)
    first = last = None
    for _ in range(12):
        log_vars = model.train_step(data, optim)
        model.update_teacher(0.9)
        first = log_vars['loss'].item() if first is None else first
        last = log_vars['loss'].item()
    assert last < first


def test_backbone_attention_is_pytorchs_fused_scaled_dot_product_attention():
    """The ViT's attention calls torch's F.scaled_dot_product_attention (fused kernels on GPU: flash /
    memory-efficient attention under AMP) and computes softmax(q k^T / sqrt(d)) v, as DINO's Attention."""
    from mmpretrain.models.utils.attention import MultiheadAttention
    torch.manual_seed(0)
    vit = MODELS.build(dict(type='DINOVisionTransformer', arch='deit-small', img_size=224, patch_size=16,
                            out_type='raw'))
    vit.init_weights()
    attentions = [m for m in vit.modules() if isinstance(m, MultiheadAttention)]
    assert len(attentions) == 12
    assert all(m.scaled_dot_product_attention is torch.nn.functional.scaled_dot_product_attention
               for m in attentions)
    attn, x = attentions[0].eval(), torch.randn(2, 197, 384)
    heads, dims = 6, 64
    q, k, v = attn.qkv(x).reshape(2, 197, 3, heads, dims).permute(2, 0, 3, 1, 4)
    weights = torch.softmax(q @ k.transpose(-2, -1) * dims**-0.5, dim=-1)
    expected = attn.proj((weights @ v).transpose(1, 2).reshape(2, 197, 384))
    torch.testing.assert_close(attn(x), expected, rtol=1e-4, atol=1e-5)


def test_teacher_targets_follow_the_centering_formulas():
    """DINOLoss.teacher_targets (centring shift and vMF term inside the head's matrix product, softmax in
    place, centre statistic of logit centering from the mean embedding) against the formulas on the
    head's raw logits t = <W_k, z>: DINO's softmax((t - c) / tau) with c <- 0.9 c + 0.1 mean(t), and
    probability centering, softmax(t / tau + log C_p) / c renormalised, with c <- 0.9 c + 0.1 mean(q)."""
    from s3pt_mm.models.heads.dino_head import DINOProjectionHead
    from s3pt_mm.models.utils.vmf import center_logits, center_probabilities, vmf_log_normalizer
    torch.manual_seed(0)
    head = DINOProjectionHead(in_channels=8, num_prototypes=K, num_object_prototypes=0, hidden_channels=12,
                              bottleneck_channels=16, norm_last_layer=False)
    with torch.no_grad():
        head.prototypes['global'].magnitude.uniform_(0.5, 1.5)
    x = torch.randn(6, 8)
    with torch.no_grad():
        logits = head(x, 'global')
    norms = head.prototype_norms('global').detach()
    close = dict(rtol=1e-5, atol=1e-7)

    dino = MODELS.build(dict(type='DINOLoss', out_channels=K, teacher_temp=0.05, centering='logit'))
    dino.center.copy_(torch.randn(K))
    center = dino.center.clone()
    probs = dino.teacher_targets(head, x, 'global', center_rows=4)  # the last 2 rows: taught, not centred
    torch.testing.assert_close(probs, torch.softmax((logits - center) / 0.05, dim=-1), **close)
    torch.testing.assert_close(probs, center_logits(logits, center, 0.05), **close)
    torch.testing.assert_close(dino.center, 0.9 * center + 0.1 * logits[:4].mean(0), **close)
    assert dino.vmf_bias(norms, 0.05) is None

    vmf = MODELS.build(dict(type='DINOLoss', out_channels=K, teacher_temp=0.05, centering='probability',
                            vmf=True, bottleneck_channels=16))
    torch.testing.assert_close(vmf.center, torch.full((K, ), 1.0 / K))
    scaled = logits / 0.05 + vmf_log_normalizer(norms / 0.05, 16)
    batch_probs = torch.softmax(scaled, -1).mean(0)
    # The uniform initial centre is a constant shift: plain vMF softmax.
    torch.testing.assert_close(vmf.teacher_targets(head, x, 'global'), torch.softmax(scaled, -1), **close)
    torch.testing.assert_close(vmf.center, 0.9 / K + 0.1 * batch_probs, **close)
    # Then it divides by the centre and renormalises, and the statistic recovered from the centred
    # distributions is still the uncentred batch mean.
    center = vmf.center.clone()
    probs = vmf.teacher_targets(head, x, 'global')
    p = torch.softmax(scaled, -1) / center
    torch.testing.assert_close(probs, p / p.sum(-1, keepdim=True), **close)
    torch.testing.assert_close(probs, center_probabilities(logits, center, 0.05, vmf.vmf_bias(norms, 0.05)),
                               **close)
    torch.testing.assert_close(vmf.center, 0.9 * center + 0.1 * batch_probs, **close)
    # No row for the centre (no object shared by the views): the centre stays.
    center = vmf.center.clone()
    vmf.teacher_targets(head, x, 'global', center_rows=0)
    torch.testing.assert_close(vmf.center, center)
    with pytest.raises(ValueError, match='prototype norms'):
        vmf.vmf_bias(None, 0.05)


def test_student_logits_are_the_scaled_logits_in_one_product():
    """DINOLoss.student_logits (temperature and vMF term inside the head's addmm) equals
    scaled_logits(<W_k, z>, log C_p(||W_k|| / tau_s), tau_s), gradients included."""
    from s3pt_mm.models.heads.dino_head import DINOProjectionHead
    torch.manual_seed(0)
    head = DINOProjectionHead(in_channels=8, num_prototypes=K, num_object_prototypes=0, hidden_channels=12,
                              bottleneck_channels=16, norm_last_layer=False).double()
    with torch.no_grad():
        head.prototypes['global'].magnitude.uniform_(0.5, 1.5)
    x = torch.randn(5, 8, dtype=torch.float64)
    weights = torch.randn(5, K, dtype=torch.float64)
    for vmf in (False, True):
        loss = MODELS.build(dict(type='DINOLoss', out_channels=K, vmf=vmf, bottleneck_channels=16)).double()
        fused = loss.student_logits(head, x, 'global')
        (fused * weights).sum().backward()
        fused_grads = [p.grad.clone() for p in head.parameters()]
        head.zero_grad()
        bias = loss.vmf_bias(head.prototype_norms('global'), loss.student_temp)
        expected = loss.scaled_logits(head(x, 'global'), bias, loss.student_temp)
        (expected * weights).sum().backward()
        torch.testing.assert_close(fused, expected.detach(), rtol=1e-12, atol=1e-12)
        for got, want in zip(fused_grads, [p.grad for p in head.parameters()]):
            torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
        head.zero_grad()


def test_schedules_follow_dino():
    assert cosine_momentum(0, 100, 0.996, 1.0) == pytest.approx(0.996)
    assert cosine_momentum(50, 100, 0.996, 1.0) == pytest.approx(0.998)
    assert cosine_momentum(100, 100, 0.996, 1.0) == pytest.approx(1.0)
    # np.linspace(0.04, 0.07, 30)[e], then 0.07
    assert linear_warmup(0, 30, 0.04, 0.07) == pytest.approx(0.04)
    assert linear_warmup(29, 30, 0.04, 0.07) == pytest.approx(0.07)
    assert linear_warmup(10, 30, 0.04, 0.07) == pytest.approx(0.04 + 0.03 * 10 / 29)
    assert linear_warmup(100, 30, 0.04, 0.07) == 0.07


def test_local_crops_enter_the_global_term_only():
    """DINO multi-crop: with L local views the global term averages the 2 * (2 + L) - 2
    cross-entropies between each teacher global view and every other student view."""
    torch.manual_seed(0)
    model = tiny_model('dino')
    model.eval()  # no drop path, so that the reference below sees the same network
    data = fake_batch()
    data['inputs'] = data['inputs'] + [torch.rand(2, 3, 16, 16) * 255 for _ in range(3)]
    data = model.data_preprocessor(data, training=True)
    views = data['inputs']
    loss = model(**data, mode='loss')['loss_global']  # centre still 0 during this step

    with torch.no_grad():
        t = model.teacher.head(model.teacher.backbone(torch.cat(views[:2]))[-1][:, 0], 'global')
        t_probs = torch.softmax(t / model.global_loss.teacher_temp, -1).chunk(2)
        s = [model.head(model.backbone(v)[-1][:, 0], 'global') for v in views]
        expected = [-(t_probs[i] * torch.log_softmax(s[v] / 0.1, -1)).sum(-1).mean()
                    for i in range(2) for v in range(5) if v != i]
    assert len(expected) == 8
    torch.testing.assert_close(loss.detach(), sum(expected) / 8)


def test_prototype_layer_adds_the_shift_in_float32_under_autocast():
    """Under autocast the prototype product is half precision; the vMF term (hundreds in magnitude) must
    not be rounded with it: the scaled logits are float32 and equal the float32 shift added to the
    product's float32 copy."""
    from s3pt_mm.models.heads.dino_head import PrototypeLayer
    from s3pt_mm.models.utils.vmf import shifted_logits
    torch.manual_seed(0)
    layer = PrototypeLayer(16, K, norm_last_layer=False)
    z = torch.nn.functional.normalize(torch.randn(4, 16), dim=-1)
    shift = -300.0 + torch.randn(K)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        raw = layer(z)
        scaled = layer(z, 0.1, shift)
    assert raw.dtype == torch.bfloat16 and scaled.dtype == torch.float32
    torch.testing.assert_close(scaled, shifted_logits(raw.float(), 0.1, shift), rtol=0, atol=0)
    # Without autocast: one addmm, the same values as the two-pass formula.
    torch.testing.assert_close(layer(z, 0.1, shift), shifted_logits(layer(z), 0.1, shift), rtol=1e-6, atol=1e-4)


def _centres_after_one_ddp_update(rank):
    """Rank r (3 + 2r rows, its own features): the centres of logit and probability centering after one
    teacher_targets call, with the raw logits and uncentred distributions behind them."""
    from mmengine.registry import init_default_scope

    from s3pt_mm.models.heads.dino_head import DINOProjectionHead
    init_default_scope('mmpretrain')
    torch.manual_seed(0)  # the same head on both ranks
    head = DINOProjectionHead(in_channels=8, num_prototypes=K, num_object_prototypes=0, hidden_channels=12,
                              bottleneck_channels=16, norm_last_layer=False)
    x = torch.randn(3 + 2 * rank, 8, generator=torch.Generator().manual_seed(rank + 1))
    out = dict()
    for centering in ('logit', 'probability'):
        loss = MODELS.build(dict(type='DINOLoss', out_channels=K, teacher_temp=0.05, centering=centering,
                                 vmf=centering == 'probability', bottleneck_channels=16))
        loss.teacher_targets(head, x, 'global')
        out[centering] = loss.center.clone()
    with torch.no_grad():
        logits = head(x, 'global')
        bias = loss.vmf_bias(head.prototype_norms('global'), 0.05)
        out['logits'], out['uncentred'] = logits, torch.softmax(logits / 0.05 + bias, dim=-1)
    return out


@pytest.mark.slow
def test_ddp_centres_average_the_rows_of_every_rank():
    """CrIBo / DINO all-reduce the teacher's logit sums and counts, so ranks with different numbers of rows
    weigh by rows. The logit centre, computed here from the all-reduced mean embedding, and the probability
    centre equal the EMA of the mean over all 8 rows of both ranks (3 and 5), on each rank."""
    from tests.helpers import run_distributed
    ranks = run_distributed(_centres_after_one_ddp_update, timeout=120)
    logits = torch.cat([r['logits'] for r in ranks])
    uncentred = torch.cat([r['uncentred'] for r in ranks])
    assert logits.shape[0] == 8
    for r in ranks:
        torch.testing.assert_close(r['logit'], 0.1 * logits.mean(0), rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(r['probability'], 0.9 / K + 0.1 * uncentred.mean(0), rtol=1e-5, atol=1e-7)
