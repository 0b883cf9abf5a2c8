"""A failure on one DDP rank stops every rank at once with the same message (issue 28, part 4): two
processes on gloo train the tiny S3PT model with mmengine's Runner under MMDistributedDataParallel, and one
rank meets a non-finite Sinkhorn plan or loss term inside the step, or a SampleLoadError while loading its
batch. Without the agreement the other rank would wait in its next collective (under NCCL until the
timeout; under gloo here until the barrier after the error times out, or until the failed rank's process
exits and gloo reports a closed connection); with it both raise the same error, naming the failing rank,
and meet at a barrier right after."""
from datetime import timedelta
from functools import partial

import pytest
import torch
from mmengine.hooks import Hook

from tests.helpers import fake_pretrain_batch, run_distributed, tiny_model

TIMEOUT = 120  # seconds for the two processes; a hang fails the test (exit codes [None, None] or -9)
BARRIER_TIMEOUT = 30  # seconds for the ranks to meet after the error


class FakeViews(torch.utils.data.Dataset):
    """Two views per image with token geometry; ``broken`` samples raise a SampleLoadError."""

    def __init__(self, broken=()):
        self.broken = broken

    def __len__(self):
        return 8

    def __getitem__(self, idx):
        if idx in self.broken:
            from s3pt_mm.datasets import SampleLoadError
            raise SampleLoadError(f'infos.pkl: sample {idx} (samples/CAM_FRONT/{idx}.jpg) cannot be loaded: '
                                  f'corrupt file (not a readable image) samples/CAM_FRONT/{idx}.jpg')
        batch = fake_pretrain_batch(batch=1, seed=idx)
        return dict(inputs=[view[0] for view in batch['inputs']], data_samples=batch['data_samples'][0])


class InjectOnRank(Hook):
    """Calls ``inject(model, data_batch)`` before the training step of iteration ``at`` on ``rank``."""
    priority = 'HIGHEST'

    def __init__(self, rank, at, inject):
        self.rank, self.at, self.inject = rank, at, inject

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.rank == self.rank and runner.iter == self.at:
            self.inject(runner.model.module, data_batch)


def _nan_pixel(model, data_batch):
    data_batch['inputs'][0][1, 0, 5, 7] = float('nan')  # this rank's Sinkhorn plan becomes non-finite


def _nan_student_temperature(model, data_batch):
    model.global_loss.student_temp = float('nan')  # this rank's loss_global becomes NaN


INJECTIONS = dict(sinkhorn=_nan_pixel, loss=_nan_student_temperature)


def _train(rank, work_dir, by_epoch, fail, broken=()):
    """Trains for 4 iterations (DDP, gloo); returns what the run raised: (type name, message), or None."""
    import os

    from mmengine.runner import Runner

    import s3pt_mm.engine  # noqa: F401  (registers the hooks in this spawned process)
    os.environ.update(LOCAL_RANK=str(rank), RANK=str(rank), WORLD_SIZE='2')
    torch.manual_seed(0)
    hooks = [dict(type='ModelEpochHook'), dict(type='NonFiniteCheckHook')]
    if fail in INJECTIONS:
        hooks.append(InjectOnRank(1, 1, INJECTIONS[fail]))
    runner = Runner(
        model=tiny_model('s3pt'), work_dir=str(work_dir), default_scope='mmpretrain', launcher='pytorch',
        cfg=dict(model_wrapper_cfg=dict(type='MMDistributedDataParallel', device_ids=None,  # a CPU module
                                        broadcast_buffers=False)),
        train_dataloader=dict(dataset=FakeViews(broken), sampler=dict(type='DefaultSampler', shuffle=False),
                              batch_size=2, num_workers=0, collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=1e-3)),
        train_cfg=dict(by_epoch=True, max_epochs=2) if by_epoch else dict(by_epoch=False, max_iters=4),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1, by_epoch=False),
                           logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=hooks, experiment_name=f'ddp_faults_{work_dir.name}')
    try:
        runner.train()
    except Exception as error:  # noqa: B902
        # No rank is left inside a collective of the step: both meet at a barrier at once. (Before the
        # agreement the other rank was still in its forward's all-reduce: the barrier timed out.)
        torch.distributed.monitored_barrier(timeout=timedelta(seconds=BARRIER_TIMEOUT))
        return type(error).__name__, str(error)
    return None


# each case spawns two processes (~25 s): one per kind of failure runs in the fast tests
@pytest.mark.parametrize('fail,named', [
    ('sinkhorn', 'rank 1: non-finite values (NaN/Inf) in the Sinkhorn transport plan'),
    pytest.param('loss', 'rank 1: non-finite loss term(s) loss_global', marks=pytest.mark.slow),
], ids=['sinkhorn', 'loss'])
def test_a_nonfinite_step_on_one_rank_stops_both(fail, named, tmp_path):
    """Rank 1's step meets a NaN (its Sinkhorn plan: a FloatingPointError inside its forward, after some of
    the forward's collectives; its loss term) at iteration 2: both ranks stop there, before the backward,
    with the same NonFiniteTrainingError naming rank 1, the iteration and rank 0's last checkpoint."""
    work_dir = tmp_path / fail
    results = run_distributed(partial(_train, work_dir=work_dir, by_epoch=False, fail=fail), timeout=TIMEOUT)
    assert results[0] == results[1], results
    kind, message = results[0]
    assert kind == 'NonFiniteTrainingError'
    assert message.startswith(named) and 'at iteration 2 ' in message
    assert f'the last checkpoint is {work_dir / "iter_1.pth"}' in message
    assert not (work_dir / 'iter_2.pth').exists()


@pytest.mark.parametrize('by_epoch', [False, pytest.param(True, marks=pytest.mark.slow)],
                         ids=['iter_loop', 'epoch_loop'])
def test_a_sample_that_fails_to_load_on_one_rank_stops_both(by_epoch, tmp_path):
    """Sample 4 is broken: rank 0 (samples 0, 2, 4, 6; batches [0, 2], [4, 6]) fails while fetching its
    second batch, rank 1 fetches its own; both raise the same SampleLoadError naming rank 0 and the sample,
    before the forward of iteration 2."""
    work_dir = tmp_path / str(by_epoch)
    results = run_distributed(partial(_train, work_dir=work_dir, by_epoch=by_epoch, fail='load', broken=(4, )),
                              timeout=TIMEOUT)
    assert results[0] == results[1], results
    kind, message = results[0]
    assert kind == 'SampleLoadError'
    assert message == ('rank 0: infos.pkl: sample 4 (samples/CAM_FRONT/4.jpg) cannot be loaded: corrupt file '
                       '(not a readable image) samples/CAM_FRONT/4.jpg')
    assert (work_dir / 'iter_1.pth').exists() and not (work_dir / 'iter_2.pth').exists()


def _batches(rank):
    """Three batches on each rank; rank 1's second fetch fails with a KeyError."""
    from s3pt_mm.engine.hooks.rank_agreement import AgreedLoader

    class Loader:
        def __len__(self):
            return 3

        def __iter__(self):
            for i in range(3):
                if rank == 1 and i == 1:
                    raise KeyError('img_path')
                yield i

    got = []
    try:
        for batch in AgreedLoader(Loader()):
            got.append(batch)
    except Exception as error:  # noqa: B902
        return got, type(error).__name__, str(error)
    return got, None, None


def test_any_error_of_a_fetch_on_one_rank_stops_both_after_the_same_batch():
    """Other errors than SampleLoadError are agreed on too, as a BatchLoadError naming the type."""
    assert run_distributed(_batches, timeout=TIMEOUT) == [([0], 'BatchLoadError', "rank 1: KeyError: 'img_path'")] * 2


def test_the_message_names_every_failing_rank_once():
    from s3pt_mm.engine.hooks.rank_agreement import _joined
    assert _joined([(1, 'a')]) == 'rank 1: a'
    assert _joined([(0, 'a'), (1, 'b'), (3, 'a')]) == 'ranks 0, 3: a; rank 1: b'
