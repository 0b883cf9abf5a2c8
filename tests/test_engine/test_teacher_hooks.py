"""The teacher hooks' one notion of the current epoch (iteration-based loops included)."""
import pytest

import s3pt_mm.engine  # noqa: F401
from s3pt_mm.engine.hooks import ModelEpochHook
from s3pt_mm.engine.hooks.teacher_hooks import current_epoch


class _FakeLoader:
    def __len__(self):
        return 4


class _FakeModel:
    epoch = None

    def set_epoch(self, epoch):
        self.epoch = epoch


class _FakeRunner:
    """What the hooks read: under IterBasedTrainLoop runner.epoch stays 0 while iterations go on."""
    train_dataloader = _FakeLoader()
    epoch = 0

    def __init__(self, iteration):
        self.iter = iteration
        self.model = _FakeModel()


@pytest.mark.parametrize('iteration, epoch', [(0, 0), (3, 0), (4, 1), (10, 2)])
def test_model_epoch_is_counted_from_iterations(iteration, epoch):
    runner = _FakeRunner(iteration)
    assert current_epoch(runner) == epoch
    ModelEpochHook().before_train_iter(runner, batch_idx=0)
    assert runner.model.epoch == epoch
