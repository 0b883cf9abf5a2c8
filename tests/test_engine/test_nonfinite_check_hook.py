"""NonFiniteCheckHook: a NaN/Inf in a loss term, a loss centre, the object queue or the Sinkhorn transport
plan stops S3PT training at that iteration (mmengine Runner, tiny S3PT) with a message naming it, the
iteration and the last checkpoint; a non-finite loss stops before the optimizer step."""
import pytest
import torch
from mmengine.hooks import Hook
from mmengine.runner import Runner

from s3pt_mm.engine import NonFiniteTrainingError
from s3pt_mm.utils.compat import load_checkpoint_safely

from tests.helpers import fake_pretrain_batch, tiny_model


class FakeViews(torch.utils.data.Dataset):
    """Two views per image with token geometry, as PackMultiViewInputs provides them."""

    def __len__(self):
        return 8

    def __getitem__(self, idx):
        batch = fake_pretrain_batch(batch=1, seed=idx)
        return dict(inputs=[view[0] for view in batch['inputs']], data_samples=batch['data_samples'][0])


class Inject(Hook):
    """Calls ``inject(model, data_batch)`` at iteration ``at`` (0-based), before (``when='before'``) or
    after (``'after'``, ahead of the other after-iteration hooks) the training step."""
    priority = 'HIGHEST'

    def __init__(self, at, when, inject):
        self.at, self.when, self.inject = at, when, inject

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if self.when == 'before' and runner.iter == self.at:
            self.inject(runner.model, data_batch)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if self.when == 'after' and runner.iter == self.at:
            self.inject(runner.model, data_batch)


def train_s3pt(work_dir, inject):
    torch.manual_seed(0)
    runner = Runner(
        model=tiny_model('s3pt'), work_dir=str(work_dir), default_scope='mmpretrain',
        train_dataloader=dict(dataset=FakeViews(), sampler=dict(type='DefaultSampler', shuffle=False),
                              batch_size=2, num_workers=0, collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=1e-3)),
        train_cfg=dict(by_epoch=False, max_iters=4),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1, by_epoch=False),
                           logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=[dict(type='ModelEpochHook'), dict(type='NonFiniteCheckHook'), inject],
        experiment_name=f'nonfinite_{work_dir.name}')
    with pytest.raises(NonFiniteTrainingError) as error:
        runner.train()
    return runner, str(error.value)


def _nan_student_temperature(model, data_batch):
    model.global_loss.student_temp = float('nan')  # logits / NaN: the global term becomes NaN


def _inf_centre(model, data_batch):
    model.object_loss.center[0] = float('inf')


def _nan_object_enqueued(model, data_batch):
    """A non-finite object written into the queue by its only writer, enqueue."""
    objects = torch.zeros(1, model.queue.features.shape[-1])
    objects[0, 3] = float('nan')
    model.queue.enqueue(objects, torch.ones_like(objects), torch.tensor([1]))


def _nan_pixel(model, data_batch):
    data_batch['inputs'][0][1, 0, 5, 7] = float('nan')  # the teacher's tokens of image 1 become NaN


@pytest.mark.parametrize('name,inject,named', [
    ('loss', Inject(2, 'before', _nan_student_temperature), 'loss term(s) loss_global'),
    ('centre', Inject(2, 'after', _inf_centre), 'buffer(s) object_loss.center'),
    ('queue', Inject(2, 'after', _nan_object_enqueued), 'buffer(s) queue.write_status'),
    ('sinkhorn', Inject(2, 'before', _nan_pixel), 'Sinkhorn transport plan'),
])
def test_training_stops_at_the_iteration_with_the_term_named(name, inject, named, tmp_path):
    work_dir = tmp_path / name
    runner, message = train_s3pt(work_dir, inject)
    assert named in message
    assert 'at iteration 3 ' in message
    assert f'last checkpoint is {work_dir / "iter_2.pth"}' in message
    assert not (work_dir / 'iter_3.pth').exists()
    if name in ('loss', 'sinkhorn'):  # caught inside the step: the optimizer did not touch the weights
        saved = load_checkpoint_safely(work_dir / 'iter_2.pth', map_location='cpu')['state_dict']
        for key, value in runner.model.named_parameters():
            assert torch.equal(value, saved[key]), key


def test_the_queue_buffers_are_checked_on_write_not_scanned_every_step():
    """The per-step scan skips the queue's features, keys and inverse norms (gigabytes at paper size: a
    bool copy of them every step) and reads the queue's write status instead; every other buffer is
    scanned."""
    from mmengine.registry import init_default_scope

    from s3pt_mm.engine.hooks.nonfinite_check_hook import checked_buffers
    init_default_scope('mmpretrain')
    model = tiny_model('s3pt')
    names = [name for name, _ in checked_buffers(model)]
    assert 'queue.write_status' in names and 'global_loss.center' in names and 'object_loss.center' in names
    assert not {'queue.features', 'queue.keys', 'queue.inv_norms'} & set(names)
    floating = {name for name, b in model.named_buffers() if b.is_floating_point()}
    assert floating - set(names) == {'queue.features', 'queue.keys', 'queue.inv_norms'}


def test_message_without_a_checkpoint(tmp_path):
    _, message = train_s3pt(tmp_path / 'early', Inject(0, 'after', _inf_centre))
    assert 'at iteration 1 ' in message and f'no checkpoint was saved in {tmp_path / "early"}' in message


def _any_rank_on(rank):
    from s3pt_mm.engine.hooks.nonfinite_check_hook import _on_any_rank
    return _on_any_rank(rank == 0), _on_any_rank(False)


def test_a_nonfinite_loss_on_one_rank_stops_every_rank():
    """Under DDP the loss check is or-ed over the ranks, so no rank waits alone in the gradient
    all-reduce while another has stopped."""
    from tests.helpers import run_distributed
    assert run_distributed(_any_rank_on) == [(True, False), (True, False)]
