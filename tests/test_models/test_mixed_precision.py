"""Every pre-training config trains under its own mixed precision, on a CPU.

The paper's configs train with fp16 mixed precision (``DINOAmpOptimWrapper``, dynamic loss scaling). Each
config of ``configs/pretrain`` (DINO / CrIBo / S3PT x ViT-S/16 and ViT-B/16, and the eleven Table 1 rows) is
built as configured -- K = 65536 prototypes per head, its clusters, iterations, vMF and depth settings --
and run under CPU autocast in fp16 and in bf16 (CPU autocast puts matrix products, ``einsum`` and ``vecdot``
in half precision like CUDA's):

1. two full training steps through the config's own optimizer wrapper (``train_step``: autocast forward,
   GradScaler-scaled backward, unscale, the config's clipping, AdamW step), the first at epoch 0 with an
   empty queue (where CrIBo's cross-image term is off), the second at epoch 1 with the queue filled by the
   first: every loss, centre and queue entry finite, the cross-image term exactly 0 at epoch 0;
2. one forward/backward from the same state as a float32 one (epoch 1, the queue filled, so all three
   terms are compared): losses and gradients within the tolerances below.

Discrete choices. The spatial clusters and the queue's cycle-consistent neighbours are discrete choices made
in float32 from the teacher's features; half-precision features flip near-ties among them (on these
random-noise images nearly every token and object is a near-tie: left free, the number of objects moved by up
to 6 per image and the cross-image term by 2.5 nats). The comparison therefore replays the float32 pass's
cluster labels and neighbours in the AMP pass (:func:`_replaying_choices`), so that it measures what half
precision does to the values; the choices themselves run under autocast in the training steps of 1.

Tolerances. Every loss term must agree within ``LOSS_TOLERANCE`` (nats, against log K = 11.1; measured over
the 17 configs: at most 0.052 in fp16, 0.025 in bf16). The gradients: at initialisation on random images the
float32 gradient is itself sensitive (inputs perturbed by 1e-3 give gradients whose cosine with the
unperturbed one is 0.63-0.93), so the AMP gradient of the backbone and of the head must be at least as close
to the float32 one as the float32 gradient of inputs perturbed by ``PERTURBATION`` (relative; between fp16's
2^-11 and bf16's 2^-8 unit roundoff) is, less ``COSINE_SLACK``, and its norm within ``NORM_RATIO`` of the
float32 norm (measured: cosines at least that of the perturbed inputs less 0.032, norm ratios 0.88-1.12).
A NaN, an overflow, or gradients left scaled fail all of these.

What is reduced, for time and memory: 2 images of 160 x 160 pixels per step (100 patches per view, so the
128 clusters of S3PT find objects in both views), and a queue of 8 images (its dtype handling does not
depend on its length; CrIBo's 25000-image queue is 3.7 GB). fp16 matrix products run as CUDA's do
(:func:`tests.helpers.cuda_like_half_gemms`: fp16 inputs, float32 accumulation, fp16 result), since this
CPU's own fp16 kernels take about 50 s for one prototype product.
"""
import contextlib
import copy
import gc

import pytest
import torch
from mmengine.config import Config

from tests.helpers import ROOT, cuda_like_half_gemms, fake_pretrain_batch

ALL_CONFIGS = sorted(str(p.relative_to(ROOT / 'configs' / 'pretrain'))
                     for p in [*(ROOT / 'configs' / 'pretrain').glob('*.py'),
                               *(ROOT / 'configs' / 'pretrain' / 'table1_ablation').glob('[0-9]*.py')])
#: the configs whose views the GPU renders have their base config's model (checked below) and a data
#: preprocessor that takes recipes, not views; their rendering under autocast is tested in
#: tests/test_datasets/test_deferred_views.py, their AMP steps by tools/gpu_check.py
DEVICE_VIEWS = [name for name in ALL_CONFIGS if name.endswith('_device-views.py')]
CONFIGS = [name for name in ALL_CONFIGS if name not in DEVICE_VIEWS]
IMG, QUEUE_IMAGES = 160, 8
DTYPES = (torch.float16, torch.bfloat16)
#: largest |AMP - float32| of a loss term (nats)
LOSS_TOLERANCE = {torch.float16: 0.1, torch.bfloat16: 0.1}
#: the float32 reference of the gradients' sensitivity: inputs times (1 + PERTURBATION * N(0, 1))
PERTURBATION, COSINE_SLACK, NORM_RATIO = 1e-3, 0.1, (0.8, 1.25)


def test_every_pretraining_config_is_covered():
    assert len(CONFIGS) == 6 + 11, CONFIGS
    assert len(DEVICE_VIEWS) == 3, DEVICE_VIEWS
    for name in DEVICE_VIEWS:
        model = Config.fromfile(str(ROOT / 'configs' / 'pretrain' / name)).model.to_dict()
        base = Config.fromfile(str(ROOT / 'configs' / 'pretrain' / name.replace('_device-views', ''))).model.to_dict()
        assert model.pop('data_preprocessor')['type'] == 'DeferredViewsDataPreprocessor'
        assert base.pop('data_preprocessor')['type'] == 'SelfSupDataPreprocessor'
        assert model == base, name


def _build(name):
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS

    import s3pt_mm.engine  # noqa: F401
    import s3pt_mm.models  # noqa: F401
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(str(ROOT / 'configs' / 'pretrain' / name))
    if cfg.model.get('queue_size'):
        cfg.model.queue_size = QUEUE_IMAGES
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.set_epoch(0)
    model.train()
    return cfg, model


def _wrapper(cfg, model, dtype):
    from mmengine.optim import build_optim_wrapper
    wrapper_cfg = copy.deepcopy(cfg.optim_wrapper)
    assert wrapper_cfg.type == 'DINOAmpOptimWrapper' and wrapper_cfg.loss_scale == 'dynamic'
    wrapper_cfg.dtype = dtype
    return build_optim_wrapper(model, wrapper_cfg)


def _raw_batch(model, seed):
    """Two global views per image; DINO's configs (multi-crop, no clustering) two 96 x 96 local views too."""
    data = fake_pretrain_batch(batch=2, seed=seed, img=IMG, patch=16)
    if model.clustering is None:
        g = torch.Generator().manual_seed(seed)
        data['inputs'] += [torch.rand(2, 3, 96, 96, generator=g) * 255 for _ in range(2)]
    return data


def _batch(model, seed):
    return model.data_preprocessor(_raw_batch(model, seed), True)


def _emulation(dtype):
    return cuda_like_half_gemms() if dtype == torch.float16 else contextlib.nullcontext()


def _finite_state(model):
    centres = [loss.center for loss in (model.global_loss, model.object_loss) if loss is not None]
    assert all(torch.isfinite(c).all() for c in centres)
    if model.queue is not None:
        assert model.queue.write_status.item() == 0.0 and torch.isfinite(model.queue.features).all()


@contextlib.contextmanager
def _replaying_choices(model, choices):
    """Within: the model's clustering and cycle-consistent retrieval record their results into ``choices``
    (empty) or return the recorded ones (filled)."""
    replay = bool(choices)
    patched = [(model.clustering, 'forward'), (model.queue, 'cycle_consistent_neighbours')]
    patched = [(owner, name) for owner, name in patched if owner is not None]
    for owner, name in patched:
        original = getattr(owner, name)

        def choose(*args, _original=original, _name=name, **kwargs):
            if not replay:
                choices[_name] = _original(*args, **kwargs)
            return choices[_name]

        setattr(owner, name, choose)
    try:
        yield
    finally:
        for owner, name in patched:
            delattr(owner, name)


def _loss_and_grads(model, data, dtype=None):
    """Losses (dict of floats) and {parameter: gradient} of one forward/backward; with ``dtype``, under
    autocast with a loss scale of 2^10 (a value the dynamic scaler reaches; no step is taken here)."""
    model.zero_grad()
    with torch.autocast('cpu', dtype=dtype or torch.float32, enabled=dtype is not None), _emulation(dtype):
        losses = model.loss(data['inputs'], data['data_samples'])
    total = sum(value for name, value in losses.items() if name.startswith('loss'))
    scale = 1024.0 if dtype is not None else 1.0
    (total * scale).backward()
    grads = {name: p.grad.detach() / scale for name, p in model.named_parameters() if p.grad is not None}
    return {name: float(value) for name, value in losses.items()}, grads


def _flat(grads, prefix):
    return torch.cat([g.flatten().double() for n, g in sorted(grads.items()) if n.startswith(prefix)])


def _cosine(grads, reference, prefix):
    a, b = _flat(grads, prefix), _flat(reference, prefix)
    return float(a @ b / (a.norm() * b.norm()))


def _norm_ratio(grads, reference, prefix):
    return float(_flat(grads, prefix).norm() / _flat(reference, prefix).norm())


@pytest.mark.slow
@pytest.mark.parametrize('name', CONFIGS)
def test_config_trains_under_fp16_and_bf16_autocast(name):
    cfg, initial = _build(name)
    object_level = initial.clustering is not None

    # the float32 reference: the queue and the centres filled by one forward of the batch, then the same
    # batch at epoch 1, whose objects find their own earlier copies in the queue (cycle-consistent)
    prefilled = copy.deepcopy(initial)
    data1 = _batch(prefilled, 0)
    with torch.no_grad():
        prefilled.loss(data1['inputs'], data1['data_samples'])
    prefilled.set_epoch(1)
    choices = {}
    reference = copy.deepcopy(prefilled)
    with _replaying_choices(reference, choices):
        ref_losses, ref_grads = _loss_and_grads(reference, data1)
    del reference
    assert all(torch.isfinite(torch.tensor(v)) for v in ref_losses.values())
    if object_level:
        assert ref_losses['loss_object_ci'] > 0  # the comparison covers the cross-image term
    perturbed = dict(data1, inputs=[v * (1 + PERTURBATION * torch.randn(v.shape, generator=torch.Generator()
                                                                        .manual_seed(i)))
                                    for i, v in enumerate(data1['inputs'])])
    _, perturbed_grads = _loss_and_grads(copy.deepcopy(prefilled), perturbed)
    sensitivity = {part: _cosine(perturbed_grads, ref_grads, part) for part in ('backbone.', 'head.')}

    for dtype in DTYPES:
        # 1. two training steps through the config's AMP optimizer wrapper
        model = copy.deepcopy(initial)
        wrapper = _wrapper(cfg, model, dtype)
        before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
        for step in range(2):
            model.set_epoch(step)
            with _emulation(dtype):
                log_vars = model.train_step(_raw_batch(model, step), wrapper)
            assert all(torch.isfinite(v) for v in log_vars.values()), (dtype, step, log_vars)
            _finite_state(model)
            if object_level and step == 0:
                assert log_vars['loss_object_ci'].item() == 0.0  # epoch 0: off, and exactly 0
        assert 0 < wrapper.loss_scaler.get_scale() <= 2.0**16
        moved = [n for n, p in model.named_parameters() if n in before and not torch.equal(p, before[n])]
        assert moved, f'{dtype}: no optimizer step was applied in two steps'

        # 2. the same forward/backward as the float32 reference
        compared = copy.deepcopy(prefilled)
        with _replaying_choices(compared, choices):
            losses, grads = _loss_and_grads(compared, data1, dtype)
        del compared
        for term, value in ref_losses.items():
            if term.startswith('loss'):
                assert abs(losses[term] - value) <= LOSS_TOLERANCE[dtype], (dtype, term, losses[term], value)
        if object_level:
            assert losses['num_objects'] == ref_losses['num_objects']  # the replayed clusters
        assert set(grads) == set(ref_grads)
        for part in ('backbone.', 'head.'):
            cosine = _cosine(grads, ref_grads, part)
            assert cosine >= sensitivity[part] - COSINE_SLACK, (dtype, part, cosine, sensitivity[part])
            assert NORM_RATIO[0] <= _norm_ratio(grads, ref_grads, part) <= NORM_RATIO[1], (dtype, part)
        del model, wrapper, grads, before  # one model with its optimizer state at a time (ViT-B: ~2 GB)
        gc.collect()
