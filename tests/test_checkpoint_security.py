"""No checkpoint runs code when it is loaded: a crafted checkpoint whose unpickling would create a file is
refused, and the file is not created, on every path that loads checkpoints (mmengine's loaders, local and
http; Runner load_from and resume; FrozenPretrainedViT; tools/extract_backbone.py; tools/visualize.py and
tools/cluster_quality.py; tools/convert_petr_checkpoint.py); a trusted file loads only with the explicit
opt-in."""
import argparse
import datetime
import functools
import http.server
import pathlib
import threading

import pytest
import torch
from mmengine.runner import CheckpointLoader, load_checkpoint

from s3pt_mm.downstream import FrozenPretrainedViT
from s3pt_mm.utils.checkpoint import load_backbone_state_dict
from s3pt_mm.utils.compat import (TRUSTED_CHECKPOINTS_ENV, UntrustedCheckpointError, load_checkpoint_safely,
                                  load_trusted_checkpoint)

from tests.helpers import make_toy_runner, run_tool, toy_model


class _Payload:
    """Unpickling this calls ``pathlib.Path(marker).touch()``: the side effect shows whether code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return pathlib.Path.touch, (pathlib.Path(self.marker), )


@pytest.fixture()
def malicious(tmp_path):
    """A checkpoint laid out like a pre-training checkpoint, with the payload in its meta."""
    marker = tmp_path / 'payload_ran'
    path = tmp_path / 'evil.pth'
    state = {f'teacher.backbone.{k}': v for k, v in toy_model().state_dict().items()}
    torch.save(dict(meta=dict(epoch=1, iter=4, note=_Payload(marker)), state_dict=state), path)
    return path, marker


def _assert_refused(error, path, marker):
    message = str(error)
    assert str(path) in message and 'pathlib.Path' in message and TRUSTED_CHECKPOINTS_ENV in message
    assert not marker.exists(), 'the checkpoint ran its payload'


def test_mmengine_loaders_refuse_it(malicious):
    path, marker = malicious
    with pytest.raises(UntrustedCheckpointError) as error:
        CheckpointLoader.load_checkpoint(str(path), map_location='cpu')
    _assert_refused(error.value, path, marker)
    with pytest.raises(UntrustedCheckpointError) as error:
        load_checkpoint(toy_model(), str(path), map_location='cpu')
    _assert_refused(error.value, path, marker)


def test_http_loader_refuses_it(malicious, tmp_path, monkeypatch):
    """mmengine's http loader goes through torch.hub, which unpickles everything unless told otherwise."""
    path, marker = malicious
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(path.parent))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f'http://127.0.0.1:{server.server_address[1]}/{path.name}'
    try:
        with pytest.raises(UntrustedCheckpointError) as error:
            CheckpointLoader.load_checkpoint(url, map_location='cpu')
    finally:
        server.shutdown()
        server.server_close()
    _assert_refused(error.value, url, marker)


@pytest.mark.parametrize('resume', [False, True])
def test_runner_load_from_and_resume_refuse_it(malicious, tmp_path, resume):
    path, marker = malicious
    runner = make_toy_runner(tmp_path / 'work', max_iters=2, load_from=str(path), resume=resume)
    with pytest.raises(UntrustedCheckpointError) as error:
        runner.load_or_resume()
    _assert_refused(error.value, path, marker)


def test_frozen_backbone_refuses_it(malicious):
    path, marker = malicious
    backbone = FrozenPretrainedViT(checkpoint=str(path), img_size=32, patch_size=16,
                                   arch=dict(embed_dims=32, num_layers=1, num_heads=2, feedforward_channels=64))
    with pytest.raises(UntrustedCheckpointError) as error:
        backbone.init_weights()
    _assert_refused(error.value, path, marker)


@pytest.mark.parametrize('tool', ['tools/extract_backbone.py', 'tools/convert_petr_checkpoint.py'])
def test_checkpoint_conversion_tools_refuse_it(malicious, tmp_path, tool):
    path, marker = malicious
    out = tmp_path / 'out.pth'
    result = run_tool(tool, str(path), str(out), check=False)
    assert result.returncode != 0 and 'Traceback' not in result.stderr
    _assert_refused(result.stderr, path, marker)
    assert not out.exists()


def test_visualize_tools_refuse_it(malicious):
    """tools/visualize.py and tools/cluster_quality.py load their checkpoints with build_teacher."""
    from s3pt_mm.visualization import build_teacher
    path, marker = malicious
    with pytest.raises(SystemExit) as error:
        build_teacher(str(path))
    _assert_refused(error.value.code, path, marker)


class _HistoryBufferInit:
    """Unpickles to ``getattr(HistoryBuffer, '__init__')``: ``getattr`` is allowed for the statistics
    methods a history buffer pickles, nothing else."""

    def __reduce__(self):
        from mmengine.logging import HistoryBuffer
        return getattr, (HistoryBuffer, '__init__')


def test_getattr_is_limited_to_history_buffer_statistics(tmp_path):
    path = tmp_path / 'getattr.pth'
    torch.save(dict(meta=dict(hook=_HistoryBufferInit())), path)
    with pytest.raises(UntrustedCheckpointError, match=r"getattr\('HistoryBuffer', '__init__'\)"):
        load_checkpoint_safely(path)


def test_dino_cribo_args_namespace_loads_but_carries_no_payload(tmp_path):
    """DINO and CrIBo store their command line as ``args`` (an argparse.Namespace of plain values): it
    loads without the opt-in, attributes intact. A Namespace holding anything else - here an attribute
    whose unpickling would create a file - is refused and the file is not created: the Namespace itself
    is built without calling any of its code, and its attributes pass the same allow-list."""
    plain = tmp_path / 'dino_full.pth'
    torch.save(dict(epoch=3, args=argparse.Namespace(arch='vit_small', lr=5e-4, pos_alpha=[1.0, 1.0])), plain)
    args = load_checkpoint_safely(plain)['args']
    assert isinstance(args, argparse.Namespace)
    assert vars(args) == dict(arch='vit_small', lr=5e-4, pos_alpha=[1.0, 1.0])

    marker = tmp_path / 'payload_ran'
    evil = tmp_path / 'evil_args.pth'
    torch.save(dict(epoch=3, args=argparse.Namespace(arch='vit_small', output_dir=_Payload(marker))), evil)
    for load in (load_checkpoint_safely, lambda p: CheckpointLoader.load_checkpoint(str(p), map_location='cpu'),
                 load_backbone_state_dict):
        with pytest.raises(UntrustedCheckpointError) as error:
            load(evil)
        _assert_refused(error.value, evil, marker)


class _NamespaceWithReduce(argparse.Namespace):
    """A Namespace subclass whose pickle is a call of ``pathlib.Path.touch``: what the file names is the
    function, not argparse.Namespace, so the allow-list does not apply."""

    def __reduce__(self):
        return pathlib.Path.touch, (pathlib.Path(self.marker), )


def test_a_namespace_subclass_with_a_payload_is_refused(tmp_path):
    marker = tmp_path / 'payload_ran'
    path = tmp_path / 'evil_subclass.pth'
    torch.save(dict(args=_NamespaceWithReduce(marker=str(marker))), path)
    with pytest.raises(UntrustedCheckpointError) as error:
        load_checkpoint_safely(path)
    _assert_refused(error.value, path, marker)


def test_trusted_file_loads_only_with_the_opt_in(tmp_path, monkeypatch):
    """A legacy checkpoint with a harmless non-weight object (a datetime.date in its meta) loads when the
    user lists it in S3PT_TRUSTED_CHECKPOINTS, or calls load_trusted_checkpoint; listing another file
    trusts nothing else."""
    weights = toy_model().state_dict()
    legacy = tmp_path / 'legacy.pth'
    saved = datetime.date(2021, 4, 29)
    torch.save(dict(meta=dict(saved=saved), state_dict=weights), legacy)
    other = tmp_path / 'other.pth'
    torch.save({}, other)

    with pytest.raises(UntrustedCheckpointError, match='datetime.date'):
        load_backbone_state_dict(str(legacy))
    monkeypatch.setenv(TRUSTED_CHECKPOINTS_ENV, str(other))
    with pytest.raises(UntrustedCheckpointError, match='datetime.date'):
        CheckpointLoader.load_checkpoint(str(legacy), map_location='cpu')

    monkeypatch.setenv(TRUSTED_CHECKPOINTS_ENV, f'{other}:{legacy}')
    assert load_checkpoint_safely(legacy)['meta']['saved'] == saved
    model = toy_model()
    load_checkpoint(model, str(legacy), map_location='cpu')
    for key, value in weights.items():
        assert torch.equal(model.state_dict()[key], value)

    monkeypatch.delenv(TRUSTED_CHECKPOINTS_ENV)
    assert load_trusted_checkpoint(legacy)['meta']['saved'] == saved
