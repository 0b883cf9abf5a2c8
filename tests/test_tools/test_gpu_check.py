"""tools/gpu_check.py in its tiny CPU mode, its failure checks, and the refusal of tools/train.py to start a CUDA
run whose mmcv has no CUDA ops (s3pt_mm.utils.runner)."""
import importlib.util
import json

import pytest
import torch

from s3pt_mm.utils import runner as runner_utils
from tests.helpers import ROOT, run_tool


def _load_tool(name):
    spec = importlib.util.spec_from_file_location(f's3pt_tools_{name}', ROOT / 'tools' / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------- mmcv's CUDA ops
@pytest.mark.parametrize('flavour,cuda,refused', [
    ('cpu', True, True), ('missing', True, True), ('cuda13.0', True, False),
    ('cpu', False, False), ('missing', False, False), ('cuda13.0', False, False)])
def test_cuda_ops_problem(flavour, cuda, refused):
    problem = runner_utils.cuda_ops_problem(flavour, cuda)
    assert (problem is not None) == refused
    if refused:
        assert 'S3PT_FORCE_SETUP=1 bash tools/setup_env.sh' in problem and 'FocalLoss' in problem


def test_mmcv_ops_flavour_of_this_environment():
    # this CPU machine's mmcv: compiled ops with CPU kernels only (tools/setup_env.sh's "cpu" flavour)
    from mmcv.ops import get_compiling_cuda_version
    expected = 'cpu' if get_compiling_cuda_version() == 'not available' else f'cuda{get_compiling_cuda_version()}'
    assert runner_utils.mmcv_ops_flavour() == expected


def test_mmcv_ops_flavour_reads_mmcv(monkeypatch):
    import mmcv.ops
    monkeypatch.setattr(mmcv.ops, 'get_compiling_cuda_version', lambda: '13.0')
    assert runner_utils.mmcv_ops_flavour() == 'cuda13.0'
    monkeypatch.setattr(mmcv.ops, 'get_compiling_cuda_version', lambda: 'not available')
    assert runner_utils.mmcv_ops_flavour() == 'cpu'


def test_train_refuses_a_cuda_run_without_cuda_ops(monkeypatch):
    train = _load_tool('train')
    built = []
    monkeypatch.setattr(train, 'build_runner', lambda cfg: built.append(cfg))
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(runner_utils, 'mmcv_ops_flavour', lambda: 'cpu')
    with pytest.raises(SystemExit) as exc:
        train.main([str(ROOT / 'configs/detection3d/demo/petr_vit-demo-frozen_synthetic.py')])
    assert 'S3PT_FORCE_SETUP=1' in str(exc.value) and not built  # stopped before building anything

    # with CUDA ops, or without a GPU, the same call goes on to build the runner
    for flavour, cuda in (('cuda13.0', True), ('cpu', False)):
        monkeypatch.setattr(torch.cuda, 'is_available', lambda cuda=cuda: cuda)
        monkeypatch.setattr(runner_utils, 'mmcv_ops_flavour', lambda flavour=flavour: flavour)
        with pytest.raises(AttributeError):  # the stand-in runner (None) has no train()
            train.main([str(ROOT / 'configs/detection3d/demo/petr_vit-demo-frozen_synthetic.py'),
                        '--work-dir', '/tmp/s3pt_gpu_check_unused'])
    assert len(built) == 2


# ---------------------------------------------------------------- gpu_check's checks
def test_pretrain_state_check_fails_on_non_finite_values():
    gpu_check = _load_tool('gpu_check')

    class Loss(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.center = torch.zeros(4)

    class Queue:
        write_status = torch.tensor(0.0)

    model = torch.nn.Module()
    model.global_loss, model.object_loss, model.queue = Loss(), Loss(), Queue()
    gpu_check.check_pretrain_state(model, dict(loss_global=torch.tensor(1.0)))
    with pytest.raises(gpu_check.CheckFailed, match='loss_global'):
        gpu_check.check_pretrain_state(model, dict(loss_global=torch.tensor(float('nan'))))
    model.object_loss.center[1] = float('inf')
    with pytest.raises(gpu_check.CheckFailed, match='object_loss.center'):
        gpu_check.check_pretrain_state(model, dict(loss_global=torch.tensor(1.0)))
    model.object_loss.center.zero_()
    model.queue.write_status = torch.tensor(1.0)
    with pytest.raises(gpu_check.CheckFailed, match='write_status'):
        gpu_check.check_pretrain_state(model, dict(loss_global=torch.tensor(1.0)))


def test_table_marks_failures_and_the_target():
    gpu_check = _load_tool('gpu_check')
    opts = gpu_check.parse_args(['--tiny'])
    opts.batch_size, opts.img, opts.steps, opts.warmup = 32, 224, 8, 3
    opts.tiny = False
    rows = [dict(check='pretrain', name=gpu_check.TARGET_CONFIG, passed=True, images_per_s=1200.0, step_s=0.027,
                 peak_mib=9000.0, dtype='float16'),
            dict(check='petr', name=gpu_check.PETR, passed=False, reason='CheckFailed: non-finite logged values')]
    table = gpu_check.format_table(rows, opts, 'NVIDIA H100')
    assert '| petr |' in table and 'FAIL: CheckFailed: non-finite' in table
    assert '1200.0 images/s (NOT met)' in table and '1/2 checks passed' in table


@pytest.mark.slow
def test_tiny_cpu_mode(tmp_path):
    """The whole check at tiny size on the CPU, as `python tools/gpu_check.py --tiny` runs it (~2 min)."""
    out = tmp_path / 'gpu_check.json'
    result = run_tool('tools/gpu_check.py', '--tiny', '--work-dir', str(tmp_path / 'work'), '--json', str(out))
    report = json.loads(out.read_text())
    assert report['tiny'] and report['all_passed'], result.stdout
    rows = report['rows']
    by_check = {}
    for row in rows:
        assert row['passed'], row
        by_check.setdefault(row['check'], []).append(row)
    configs = sorted(p.name for p in (ROOT / 'configs' / 'pretrain').glob('*.py'))
    assert sorted(r['name'] for r in by_check['pretrain']) == configs
    for check in ('pretrain', 'ddp', 'segmenter', 'petr'):
        for row in by_check[check]:
            assert row['images_per_s'] > 0 and row['step_s'] > 0, row
            assert row['dtype'] == 'bfloat16', row  # AMP ran, in the CPU's default half precision
            if check != 'ddp':
                assert row['peak_mib'] > 0 and row['steps'] == 3
    assert by_check['mmcv'][0]['note'] == f'mmcv ops: {runner_utils.mmcv_ops_flavour()}'
    # the printed table: one line per row, every one passed, and the target line
    lines = [line for line in result.stdout.splitlines() if line.startswith('| ') and 'check |' not in line]
    assert len(lines) == len(rows) and all('| PASS |' in line for line in lines)
    assert f'{len(rows)}/{len(rows)} checks passed' in result.stdout
    assert 'target: S3PT ViT-S/16 >= 1500 images/s' in result.stdout and 'n/a at tiny size' in result.stdout
