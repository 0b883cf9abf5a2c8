"""The losses of the first training steps of DINO, CrIBo and S3PT are pinned to the values the code gave
before the speed-ups of issue 16 (vMF normaliser once per step, half-precision queue search with exact
re-scoring, one host synchronisation for the object pairs): a speed-up must not change a result.

``tests/data/pinned_step_losses.json`` was written by :func:`step_losses` at commit d9d5bb4 (the code
before those speed-ups) with ``python -m tests.test_models.test_algorithms.test_pinned_step``. Regenerate
it only for a change that is meant to change the results, and say so in the commit.

Five steps of batch 2 on the tiny ViT: the cross-image queue (4 images) fills and wraps, the centres
move, and every later step's losses depend on the earlier steps' gradients.
"""
import json
import sys

import pytest
import torch

from tests.helpers import ROOT, fake_pretrain_batch, tiny_model

PINNED = ROOT / 'tests' / 'data' / 'pinned_step_losses.json'
STEPS = 5


def step_losses(method):
    """{loss name: [value per step]} of ``STEPS`` AdamW steps (lr 1e-3) plus teacher EMA (0.99)."""
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope
    init_default_scope('mmpretrain')
    torch.manual_seed(0)
    model = tiny_model(method)
    model.train()
    optim = build_optim_wrapper(model, dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-3)))
    values = {}
    for step in range(STEPS):
        log_vars = model.train_step(fake_pretrain_batch(batch=2, seed=step), optim)
        model.update_teacher(0.99)
        for name, value in log_vars.items():
            values.setdefault(name, []).append(float(value))
    return values


@pytest.mark.parametrize('method', ['dino', 'cribo', 's3pt'])
def test_losses_of_the_first_steps_are_unchanged(method):
    pinned = json.loads(PINNED.read_text())[method]
    measured = step_losses(method)
    assert sorted(measured) == sorted(pinned)
    for name, values in pinned.items():
        torch.testing.assert_close(torch.tensor(measured[name], dtype=torch.float64),
                                   torch.tensor(values, dtype=torch.float64), rtol=1e-5, atol=1e-6,
                                   msg=lambda m: f'{method} {name}: {m}')
    if method != 'dino':  # the cross-image term is active and non-zero in some step
        assert any(v > 0 for v in pinned['loss_object_ci'])


if __name__ == '__main__':
    out = {method: step_losses(method) for method in ('dino', 'cribo', 's3pt')}
    PINNED.write_text(json.dumps(out, indent=1) + '\n')
    json.dump(out, sys.stdout, indent=1)
