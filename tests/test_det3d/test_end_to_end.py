"""PETR end to end on the synthetic nuScenes data, as a user runs it: tools/create_data.py infos (written by
the ``pretrain_data_root`` fixture), ``tools/train.py`` on the demo PETR config with a frozen ViT from a
real pre-training checkpoint, ``tools/test.py`` with the official nuScenes detection evaluation, and
``tools/eval_distance_bins.py`` (Table 10 layout)."""
import json
import math

import pytest
import torch

pytest.importorskip('mmdet3d')
from mmengine.config import Config  # noqa: E402

from tests.helpers import ROOT, run_tool  # noqa: E402
from s3pt_mm.utils.checkpoint import load_backbone_state_dict  # noqa: E402
from s3pt_mm.utils.compat import load_trusted_checkpoint  # noqa: E402

pytestmark = pytest.mark.slow

DEMO = ROOT / 'configs' / 'detection3d' / 'demo' / 'petr_vit-demo-frozen_synthetic.py'
#: The test data has 90 x 160 images (half the demo's): 64 x 128 network inputs (4 x 8 ViT tokens).
IMG_SIZE = (64, 128)


def _small_config(path, data_root, checkpoint):
    cfg = Config.fromfile(str(DEMO))
    for pipeline in (cfg.train_pipeline, cfg.test_pipeline, cfg.train_dataloader.dataset.pipeline,
                     cfg.val_dataloader.dataset.pipeline, cfg.test_dataloader.dataset.pipeline):
        for step in pipeline:
            if step['type'] == 'MultiViewResizeCropFlip':
                step['final_size'] = IMG_SIZE
                if 'resize_range' in step:
                    step['resize_range'] = (0.8, 0.9)
    cfg.model.img_backbone.img_size = IMG_SIZE
    cfg.model.img_backbone.checkpoint = str(checkpoint)
    cfg.train_cfg.max_epochs = 2
    cfg.train_cfg.val_interval = 2
    cfg.default_hooks.checkpoint.update(interval=1, max_keep_ckpts=2)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = f'{data_root}/'
    for evaluator in ('val_evaluator', 'test_evaluator'):
        cfg[evaluator].data_root = f'{data_root}/'
        cfg[evaluator].ann_file = f'{data_root}/nuscenes_infos_val.pkl'
    cfg.dump(str(path))
    return path


@pytest.fixture(scope='module')
def petr_run(pretrain_data_root, s3pt_checkpoint, tmp_path_factory):
    """Train the small PETR for 2 epochs, then test it with results_nusc.json kept."""
    work = tmp_path_factory.mktemp('petr')
    config = _small_config(work / 'petr_small.py', pretrain_data_root, s3pt_checkpoint)
    run_tool('tools/train.py', str(config), '--work-dir', str(work))
    test = run_tool('tools/test.py', str(config), str(work / 'epoch_2.pth'), '--work-dir', str(work),
                    '--cfg-options', f'test_evaluator.jsonfile_prefix={work}/results')
    return work, test


def test_training_keeps_the_pretrained_backbone(petr_run, s3pt_checkpoint):
    work, _ = petr_run
    teacher = load_backbone_state_dict(str(s3pt_checkpoint), 'teacher')
    trained = load_trusted_checkpoint(str(work / 'epoch_2.pth'), map_location='cpu')
    state = trained['state_dict']
    vit = {k[len('img_backbone.'):]: v for k, v in state.items() if k.startswith('img_backbone.')}
    assert vit.keys() == teacher.keys()
    for key, value in teacher.items():
        if key != 'pos_embed':  # resized to the 4 x 8 token grid when loaded
            torch.testing.assert_close(vit[key], value, rtol=0, atol=0, msg=key)
    # The optimizer never held a backbone tensor: its state covers the trainable parameters only.
    trainable = [k for k in state if not k.startswith('img_backbone.')]
    assert len(trained['optimizer']['state']) <= len(trainable)
    # ... and the head did learn (its weights moved away from the initialisation of epoch 1).
    epoch1 = load_trusted_checkpoint(str(work / 'epoch_1.pth'), map_location='cpu')['state_dict']
    moved = [k for k in trainable if state[k].dtype.is_floating_point and not torch.equal(state[k], epoch1[k])]
    assert moved, 'no head parameter changed between epoch 1 and 2'


def test_official_evaluation_gives_finite_map_and_nds(petr_run):
    work, test = petr_run
    summary = json.loads((work / 'results' / 'pred_instances_3d' / 'metrics_summary.json').read_text())
    assert math.isfinite(summary['mean_ap']) and 0.0 <= summary['mean_ap'] <= 1.0
    assert math.isfinite(summary['nd_score']) and 0.0 <= summary['nd_score'] <= 1.0
    assert set(summary['mean_dist_aps']) == {'car', 'truck', 'bus', 'trailer', 'construction_vehicle',
                                             'pedestrian', 'motorcycle', 'bicycle', 'traffic_cone', 'barrier'}
    # NDS = (5 mAP + sum over the 5 TP metrics of (1 - min(1, err))) / 10, the official formula.
    tp = sum(1 - min(1.0, err) for err in summary['tp_errors'].values() if math.isfinite(err))
    assert summary['nd_score'] == pytest.approx((5 * summary['mean_ap'] + tp) / 10, abs=1e-6)
    assert 'NDS' in test.stdout + test.stderr


def test_distance_binned_report(petr_run, pretrain_data_root):
    work, _ = petr_run
    result = work / 'results' / 'pred_instances_3d' / 'results_nusc.json'
    run_tool('tools/eval_distance_bins.py', '--data-root', str(pretrain_data_root), '--version', 'v1.0-mini',
             '--result', f's3pt={result}', '--out-dir', str(work / 'table10'), '--ranges', '20', '30', '50', '60')
    markdown = (work / 'table10' / 'distance_bins.md').read_text()
    for label in ('0-20m', '0-30m', '0-60m'):
        assert label in markdown
    rows = (work / 'table10' / 'distance_bins.csv').read_text().splitlines()
    assert rows[0] == 'class,0-20m/s3pt,0-30m/s3pt,0-50m/s3pt,0-60m/s3pt'
    table = {row.split(',')[0]: [float(v) for v in row.split(',')[1:]] for row in rows[1:]}
    assert 'construction_vehicle' not in table  # Table 10 leaves it out
    classes = [c for c in table if c != 'mAP']
    for column in range(4):
        assert table['mAP'][column] == pytest.approx(sum(table[c][column] for c in classes) / len(classes))
    # Where a range equals a class's official range (detection_cvpr_2019.json: 30 m for traffic cones and
    # barriers, 50 m for the vehicles), the range's AP is the official DetectionEval's.
    summary = json.loads((work / 'results' / 'pred_instances_3d' / 'metrics_summary.json').read_text())
    for column, names in ((1, ('traffic_cone', 'barrier')), (2, ('car', 'truck', 'bus', 'trailer'))):
        for name in names:
            assert table[name][column] == pytest.approx(summary['mean_dist_aps'][name], abs=1e-9), name
