"""Segmentation end to end on synthetic data: nuImages conversion, training both Segmenter heads on a frozen
backbone from a pre-training checkpoint, per-class evaluation, domain transfer both ways, the learning-rate
sweep and the report; all through tools/train.py and tools/test.py with the configs of configs/segmentation
(a 2-layer ViT and 64x64 crops via overrides)."""
import importlib.util
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from s3pt_mm.seg.classes import CITYSCAPES_CLASSES, NUIMAGES_SEG_CLASSES, SHARED_CLASS_NAMES
from s3pt_mm.converters.nuimages_seg import LABEL_DIR, SPLIT_DIR, convert_version
from s3pt_mm.seg.results import final_metrics
from s3pt_mm.utils.compat import load_trusted_checkpoint
from tests.helpers import ROOT

pytestmark = pytest.mark.slow

SEG = ROOT / 'configs' / 'segmentation'
VIT = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)


def _load_tool(relative_path):
    """A script of tools/ as a module."""
    path = ROOT / 'tools' / relative_path
    spec = importlib.util.spec_from_file_location(f's3pt_tools_{path.stem}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


train_tool, test_tool, sweep_tool, report_tool, converter_tool = (
    _load_tool(p) for p in ('train.py', 'test.py', 'seg_lr_sweep.py', 'seg_report.py',
                            'dataset_converters/nuimages_seg.py'))


@pytest.fixture(scope='module')
def nuimages_seg(synthetic_data_root, tmp_path_factory):
    """(image root, label root) of the converted synthetic nuImages train and val versions."""
    images = str(synthetic_data_root / 'nuimages')
    labels = str(tmp_path_factory.mktemp('nuimages_seg'))
    for version in ('v1.0-train', 'v1.0-val'):
        convert_version(images, version, out_dir=labels, progress=False)
    return images, labels


@pytest.fixture(scope='module')
def cityscapes_root(nuimages_seg, tmp_path_factory):
    """A tiny dataset in the Cityscapes layout (the synthetic images, labels mapped to train ids)."""
    images, labels = nuimages_seg
    root = tmp_path_factory.mktemp('cityscapes')
    to_train_id = np.full(256, 255, np.uint8)
    for nui, cs in (('background', 'building'), ('driveable surface', 'road'), ('car', 'car'),
                    ('truck', 'truck'), ('bus', 'bus'), ('bicycle', 'bicycle'), ('pedestrian', 'person')):
        to_train_id[NUIMAGES_SEG_CLASSES.index(nui)] = CITYSCAPES_CLASSES.index(cs)
    for split in ('train', 'val'):
        for name in (Path(labels) / SPLIT_DIR / f'{split}.txt').read_text().split()[:6]:
            stem = Path(name).name
            for folder, suffix, array in (
                    ('leftImg8bit', '_leftImg8bit.png', np.array(Image.open(f'{images}/{name}.jpg'))),
                    ('gtFine', '_gtFine_labelTrainIds.png',
                     to_train_id[np.array(Image.open(f'{labels}/{LABEL_DIR}/{name}.png'))])):
                (root / folder / split / 'synth').mkdir(parents=True, exist_ok=True)
                Image.fromarray(array).save(root / folder / split / 'synth' / f'{stem}{suffix}')
    return str(root)


@pytest.fixture(scope='module')
def pretraining_ckpt(tmp_path_factory):
    """A checkpoint of the pre-training model (S3PT with a 2-layer ViT) and its teacher's backbone."""
    import s3pt_mm.models  # noqa: F401
    from mmpretrain.registry import MODELS

    loss = dict(type='DINOLoss', out_channels=64, centering='probability', vmf=True, bottleneck_channels=16)
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type='S3PT',
        backbone=dict(type='VisionTransformer', arch=VIT, img_size=64, patch_size=16, out_type='raw'),
        head=dict(type='DINOProjectionHead', in_channels=32, num_prototypes=64, hidden_channels=64,
                  bottleneck_channels=16, num_layers=3, norm_last_layer=False),
        global_loss=loss, object_loss=loss, queue_size=4, cross_image_start_epoch=0,
        clustering=dict(type='SinkhornSpatialClustering', num_clusters=8, num_iters=1, depth_alpha=4.0),
        data_preprocessor=dict(type='SelfSupDataPreprocessor', mean=[0.0] * 3, std=[1.0] * 3)))
    with torch.no_grad():  # the teacher as after some EMA steps: different from the student
        for p in model.teacher.backbone.parameters():
            p.add_(0.1 * torch.randn_like(p))
    path = tmp_path_factory.mktemp('pretrain') / 'epoch_1.pth'
    torch.save(dict(meta=dict(epoch=1), state_dict=model.state_dict()), path)
    return str(path), {k: v.clone() for k, v in model.teacher.backbone.state_dict().items()}


def _data_overrides(dataset, nuimages_seg, cityscapes_root):
    if dataset == 'nuimages':
        images, labels = nuimages_seg
        return f"dataset=dict(data_root='{labels}', data_prefix=dict(img_path='{images}'), pipeline=PIPELINE)"
    return f"dataset=dict(data_root='{cityscapes_root}', pipeline=PIPELINE)"


def tiny_config(path, base, dataset, nuimages_seg, cityscapes_root, checkpoint=None):
    """A config inheriting ``base`` (relative to configs/segmentation) with a 2-layer ViT, 64x64 crops,
    2 iterations and the test data of ``dataset``."""
    data = _data_overrides(dataset, nuimages_seg, cityscapes_root)
    mask_head = "model['decode_head'].update(num_heads=2, embed_dims=32)" if '_mask_' in base else ''

    train_data, test_data = data.replace('PIPELINE', 'train_pipeline'), data.replace('PIPELINE', 'test_pipeline')
    Path(path).write_text(f"""
_base_ = ['{SEG / base}']
crop = (64, 64)
train_pipeline = [
    dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(160, 90), ratio_range=(0.8, 1.2), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop, cat_max_ratio=0.75), dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs')]
test_pipeline = [dict(type='LoadImageFromFile'), dict(type='Resize', scale=(160, 90), keep_ratio=True),
                 dict(type='LoadAnnotations'), dict(type='PackSegInputs')]
model = dict(
    data_preprocessor=dict(size=crop),
    backbone=dict(arch=dict(_delete_=True, **{VIT!r}), img_size=64, checkpoint={checkpoint!r}),
    decode_head=dict(in_channels=32, channels=32),
    test_cfg=dict(mode='slide', crop_size=crop, stride=(48, 48)))
{mask_head}
loader = dict(batch_size=2, num_workers=0, persistent_workers=False)
train_dataloader = dict(loader, {train_data})
val_dataloader = dict(loader, batch_size=1, {test_data})
test_dataloader = val_dataloader
train_cfg = dict(max_iters=2, val_interval=2)
param_scheduler = [dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=2, by_epoch=False)]
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=2))
auto_scale_lr = dict(base_batch_size=2)  # the lr is meant for this run's batch (1 process x 2)
# several runs in one process: mmseg's runtime names its visualizer 'visualizer', one instance per name
visualizer = dict(name={Path(path).stem!r})
""")
    return str(path)


@pytest.fixture(scope='module')
def trained(nuimages_seg, cityscapes_root, pretraining_ckpt, tmp_path_factory):
    """Work dirs of short trainings with tools/train.py: nuImages linear and mask, Cityscapes linear."""
    tmp = tmp_path_factory.mktemp('seg_runs')
    runs = {}
    for dataset, head, base in (
            ('nuimages', 'linear', 'nuimages/segmenter_vit-s16-frozen_linear_8xb1-160k_nuimages-512x512.py'),
            ('nuimages', 'mask', 'nuimages/segmenter_vit-s16-frozen_mask_8xb1-160k_nuimages-512x512.py'),
            ('cityscapes', 'linear',
             'cityscapes/segmenter_vit-s16-frozen_linear_8xb1-160k_cityscapes-768x768.py')):
        config = tiny_config(tmp / f'tiny_{dataset}_{head}.py', base, dataset, nuimages_seg, cityscapes_root)
        work_dir = str(tmp / f'{dataset}_{head}')
        train_tool.main([config, '--work-dir', work_dir,
                         '--cfg-options', f'model.backbone.checkpoint={pretraining_ckpt[0]}'])
        runs[dataset, head] = work_dir
    return runs


@pytest.mark.parametrize('head', ['linear', 'mask'])
def test_training_keeps_the_backbone_frozen(trained, pretraining_ckpt, head):
    checkpoint = load_trusted_checkpoint(os.path.join(trained['nuimages', head], 'iter_2.pth'))
    state = checkpoint['state_dict']
    backbone = {k[len('backbone.'):]: v for k, v in state.items() if k.startswith('backbone.')}
    teacher = pretraining_ckpt[1]
    assert backbone.keys() == teacher.keys()
    for k, v in teacher.items():  # the teacher's weights, unchanged by training
        assert torch.equal(backbone[k], v), k
    # the optimizer holds the head only, and every head tensor has been updated (momentum buffer)
    head_tensors = [k for k in state if k.startswith('decode_head.')]
    groups = checkpoint['optimizer']['param_groups']
    assert sum(len(g['params']) for g in groups) == len(head_tensors) == len(checkpoint['optimizer']['state'])


@pytest.mark.parametrize('head', ['linear', 'mask'])
def test_validation_reports_every_class(trained, head):
    metrics = final_metrics(trained['nuimages', head])
    assert metrics['step'] == 2
    assert [k[4:] for k in metrics if k.startswith('IoU.')] == list(NUIMAGES_SEG_CLASSES)
    assert 0.0 <= metrics['mIoU'] <= 100.0


@pytest.mark.parametrize('source,target', [('nuimages', 'cityscapes'), ('cityscapes', 'nuimages')])
def test_domain_transfer(trained, nuimages_seg, cityscapes_root, tmp_path, source, target):
    config = tiny_config(tmp_path / f'tiny_{source}_to_{target}.py',
                         f'transfer/segmenter_vit-s16-frozen_linear_{source}-to-{target}.py', target,
                         nuimages_seg, cityscapes_root)
    checkpoint = os.path.join(trained[source, 'linear'], 'iter_2.pth')
    work_dir = str(tmp_path / 'test')
    metrics = test_tool.main([config, checkpoint, '--work-dir', work_dir])
    target_classes = {'cityscapes': CITYSCAPES_CLASSES, 'nuimages': NUIMAGES_SEG_CLASSES}[target]
    assert [k[4:] for k in metrics if k.startswith('IoU.')] == list(target_classes)  # the headline
    assert [k[11:] for k in metrics if k.startswith('IoU_shared.')] == list(SHARED_CLASS_NAMES)
    assert 0.0 <= metrics['mIoU_shared'] <= 100.0
    assert final_metrics(work_dir)['mIoU'] == metrics['mIoU']  # the test JSON log


def test_lr_sweep_resumes_and_reports(trained, nuimages_seg, cityscapes_root, pretraining_ckpt, tmp_path,
                                      monkeypatch, capsys):
    """Three learning rates, each a tools/train.py run (in this process, to save the start-up time);
    a second sweep trains nothing; the report reads sweeps and single runs."""
    config = tiny_config(tmp_path / 'tiny_sweep.py',
                         'nuimages/segmenter_vit-s16-frozen_linear_8xb1-160k_nuimages-512x512.py', 'nuimages',
                         nuimages_seg, cityscapes_root)
    commands = []

    def run_train(command):
        commands.append(command)
        assert command[0] == sys.executable and command[1].endswith('tools/train.py')
        lr = command[-1].split('=')[-1]
        train_tool.main(command[2:] + [f'visualizer.name=sweep_{lr}'])
        return 0

    monkeypatch.setattr(sweep_tool.subprocess, 'call', run_train)
    sweep_dir = tmp_path / 'sweep'
    argv = [config, '--work-dir', str(sweep_dir), '--checkpoint', pretraining_ckpt[0]]
    assert sweep_tool.main(argv) == 0
    assert [c[-1] for c in commands] == [f'optim_wrapper.optimizer.lr={lr!r}' for lr in (8e-4, 3e-4, 8e-5)]
    summary = json.loads((sweep_dir / 'sweep.json').read_text())
    assert set(summary['runs']) == {'lr_8e-04', 'lr_3e-04', 'lr_8e-05'}
    best = max(summary['runs'], key=lambda k: summary['runs'][k]['metrics']['mIoU'])
    assert summary['best'] == best
    for name in ('sweep.md', 'per_class_iou.md', 'per_class_iou.csv', 'per_class_iou.png'):
        assert (sweep_dir / name).stat().st_size > 0
    assert not list(sweep_dir.glob('.tmp_*'))

    commands.clear()
    capsys.readouterr()
    assert sweep_tool.main(argv) == 0
    assert commands == [] and capsys.readouterr().out.count('skipped') == 3

    report = tmp_path / 'report'
    report_tool.main([f'S3PT sweep={sweep_dir}', f'mask={trained["nuimages", "mask"]}', '--out-dir', str(report)])
    csv_lines = (report / 'per_class_iou.csv').read_text().splitlines()
    assert csv_lines[0].split(',')[:5] == ['run', 'mIoU', 'mAcc', 'aAcc', 'background']
    assert [line.split(',')[0] for line in csv_lines[1:]] == ['S3PT sweep', 'mask']
    best_miou = summary['runs'][best]['metrics']['mIoU']
    assert float(csv_lines[1].split(',')[1]) == pytest.approx(best_miou)
    assert '| car |' in (report / 'per_class_iou.md').read_text()
    assert Image.open(report / 'per_class_iou.png').size[0] > 0


def test_interrupted_sweep_run_resumes(tmp_path):
    """An unfinished run (checkpoint, no completion mark) continues with --resume."""
    run_dir = tmp_path / 'sweep' / 'lr_3e-04'
    run_dir.mkdir(parents=True)
    (run_dir / 'last_checkpoint').write_text(str(run_dir / 'iter_2.pth'))
    args = sweep_tool.argparse.Namespace(config='c.py', checkpoint='pre.pth', which='teacher', cfg_options=None,
                                         gpus=2, auto_scale_lr=True, work_dir=str(tmp_path / 'sweep'))
    command = sweep_tool.train_command(args, 3e-4, str(run_dir))
    assert command[1:3] == ['-m', 'torch.distributed.run'] and command[-2:] == ['--launcher', 'pytorch']
    assert '--resume' in command and '--auto-scale-lr' in command
    assert 'model.backbone.checkpoint=pre.pth' in command


def test_converter_equals_the_devkit_segmentation(synthetic_data_root, nuimages_seg, tmp_path):
    """Our labels are NuImages.get_segmentation's semantic masks, mapped to our classes."""
    from nuimages import NuImages
    from nuimages.utils.utils import name_to_index_mapping

    from s3pt_mm.seg.classes import nuimages_class_id

    images, labels = nuimages_seg
    nuim = NuImages(version='v1.0-val', dataroot=images, lazy=True, verbose=False)
    lut = np.zeros(256, np.uint8)
    for name, index in name_to_index_mapping(nuim.category).items():
        lut[index] = nuimages_class_id(name)
    names = (Path(labels) / SPLIT_DIR / 'val.txt').read_text().split()
    assert len(names) == len(nuim.sample) and names == sorted(names)
    for sample in nuim.sample:
        sample_data = nuim.get('sample_data', sample['key_camera_token'])
        semantic, _ = nuim.get_segmentation(sample_data['token'])
        ours = np.array(Image.open(Path(labels) / LABEL_DIR / (sample_data['filename'][:-4] + '.png')))
        np.testing.assert_array_equal(ours, lut[semantic])


def test_converter_resumes_and_fails_clearly(synthetic_data_root, tmp_path, capsys):
    images = str(synthetic_data_root / 'nuimages')
    out = tmp_path / 'out'
    first = convert_version(images, 'v1.0-val', out_dir=str(out), progress=False)
    assert first['written'] == first['images'] > 0
    some = sorted((out / LABEL_DIR).rglob('*.png'))[0]
    some.unlink()
    again = convert_version(images, 'v1.0-val', out_dir=str(out), progress=False)
    assert again == dict(images=first['images'], written=1, skipped=first['images'] - 1) and some.is_file()
    assert not list(out.rglob('.tmp_*'))

    for argv, message in (([str(tmp_path / 'missing')], 'dataroot not found'),
                          ([images, '--versions', 'v1.0-trainval'], "'v1.0-trainval' not found"),
                          ([images, '--versions', 'v1.0-test'], 'no annotations')):
        with pytest.raises(SystemExit) as error:
            converter_tool.main(argv + ['--out-dir', str(out)])
        assert message in str(error.value)
    shutil.rmtree(out)
