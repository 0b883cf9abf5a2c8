"""tools/token_probe.py on the session's synthetic data, and the supervised oracle config whose backbone it
(and the demo probe) reads."""
import json

import pytest
import torch
from mmengine.config import Config
from tests.helpers import ROOT, run_tool


def _labelled_nuimages(synthetic_data_root, tmp_path):
    """A nuImages root with the converter's train / val labels next to (links to) the session's images."""
    from s3pt_mm.converters.nuimages_seg import convert_version
    labels = tmp_path / 'labels'
    for version in ('v1.0-train', 'v1.0-val'):
        convert_version(str(synthetic_data_root / 'nuimages'), version, out_dir=str(labels), progress=False)
    (labels / 'samples').symlink_to(synthetic_data_root / 'nuimages' / 'samples', target_is_directory=True)
    return labels


@pytest.mark.slow
def test_token_probe_tool_measures_the_random_floor(synthetic_data_root, tmp_path):
    root = _labelled_nuimages(synthetic_data_root, tmp_path)
    out = tmp_path / 'out'
    result = run_tool('tools/token_probe.py', '--data', str(root), '--random', '0', '--size', '96', '48',
                      '--k', '3', '--out-dir', str(out))
    assert 'token grid 3x6 (input 96x48, patch 16)' in result.stdout
    assert 'init_weights' not in result.stdout  # mmengine's per-tensor initialisation report stays out
    report = json.loads((out / 'token_probe.json').read_text())
    assert 0 < report['ceiling_miou'] <= 100 and report['size'] == [96, 48]
    scores = report['backbones']['random init (seed 0)']
    assert set(scores) == {'k-NN', 'logistic', 'logistic + position'}
    assert set(report['backbones']) == {'position only (no backbone)', 'random init (seed 0)'}
    for classifier in scores.values():
        assert 0 < classifier['accuracy'] <= 100 and classifier['classes_predicted'] >= 1
    assert sum(report['train_token_counts']) > 0
    assert (out / 'random_init_seed0_p16.pth').is_file()  # the floor checkpoint, built with that seed
    assert (out / 'token_probe.md').read_text().startswith('token grid')


def test_token_probe_tool_rejects_a_size_off_the_patch_grid(tmp_path):
    result = run_tool('tools/token_probe.py', '--data', str(tmp_path), '--size', '100', '48', check=False)
    assert result.returncode != 0 and 'multiple of --patch-size' in result.stderr


def test_supervised_oracle_backbone_is_trainable_and_loads_into_the_frozen_probe(tmp_path):
    """The oracle config trains the demo ViT itself (not frozen, in the optimizer), and its checkpoint's
    ``backbone.`` weights are exactly the frozen probe backbone's (``which='student'``)."""
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules

    import s3pt_mm.seg  # noqa: F401
    register_all_modules(init_default_scope=True)
    oracle_cfg = Config.fromfile(str(ROOT / 'configs/demo/supervised-oracle_vit-demo_synthetic-nuimages.py'))
    probe_cfg = Config.fromfile(str(ROOT / 'configs/demo/segmenter-linear_vit-demo_synthetic-nuimages.py'))
    assert oracle_cfg.optim_wrapper.type == 'OptimWrapper' and 'constructor' not in oracle_cfg.optim_wrapper
    assert oracle_cfg.train_dataloader.dataset.pipeline == probe_cfg.train_dataloader.dataset.pipeline
    assert oracle_cfg.test_pipeline == probe_cfg.test_pipeline
    oracle = MODELS.build(oracle_cfg.model)
    assert all(p.requires_grad for p in oracle.backbone.parameters())
    path = tmp_path / 'oracle.pth'
    torch.save(dict(state_dict=oracle.state_dict()), path)
    probe_cfg.model.backbone.update(checkpoint=str(path), which='student')
    probe = MODELS.build(probe_cfg.model)
    probe.backbone.init_weights()
    for key, value in oracle.backbone.state_dict().items():
        assert torch.equal(probe.backbone.state_dict()[key], value), key
    assert not any(p.requires_grad for p in probe.backbone.parameters())
