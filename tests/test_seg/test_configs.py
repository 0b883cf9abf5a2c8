"""The segmentation configs follow the paper's protocol (A.2.1) and mmseg's own Segmenter configs; the
learning-rate sweep runs them at the batch their learning rates are for."""
import functools
import importlib.util
import re
from pathlib import Path

import mmseg
import pytest
from mmengine.config import Config

from s3pt_mm.seg.classes import CITYSCAPES_CLASSES, NUIMAGES_SEG_CLASSES, NUIMAGES_SEG_CLASSES_12
from tests.helpers import ROOT

SEG = ROOT / 'configs' / 'segmentation'
PAPER_LRS = (8e-4, 3e-4, 8e-5)
ARCHS = {'s16': ('deit-small', 384, 6), 'b16': ('deit-base', 768, 12)}
DATASETS = {'nuimages': ('nuimages/segmenter_vit-{arch}-frozen_{head}_8xb1-160k_nuimages-512x512.py',
                         'NuImagesSegDataset', NUIMAGES_SEG_CLASSES, (512, 512),
                         'mmseg::_base_/datasets/ade20k.py'),
            'cityscapes': ('cityscapes/segmenter_vit-{arch}-frozen_{head}_8xb1-160k_cityscapes-768x768.py',
                           'CityscapesDataset', CITYSCAPES_CLASSES, (768, 768),
                           'mmseg::_base_/datasets/cityscapes_768x768.py')}
# mmseg's Segmenter configs the heads come from (no ViT-B linear one exists: ViT-S linear, 768 wide)
MMSEG_SEGMENTER = {('s16', 'mask'): 'segmenter_vit-s_mask', ('s16', 'linear'): 'segmenter_vit-s_fcn',
                   ('b16', 'mask'): 'segmenter_vit-b_mask', ('b16', 'linear'): 'segmenter_vit-s_fcn'}
CASES = [(d, a, h) for d in DATASETS for a in ARCHS for h in ('linear', 'mask')]


@functools.lru_cache(maxsize=None)
def load(path):
    """A config of configs/segmentation, or of mmseg's own ('mmseg::...')."""
    if path.startswith('mmseg::'):
        return Config.fromfile(str(Path(mmseg.__file__).parent / '.mim' / 'configs' / path[len('mmseg::'):]))
    return Config.fromfile(str(SEG / path))


def plain(obj):
    """Config content without the ``_scope_`` keys mmengine adds to ``mmseg::`` bases."""
    if isinstance(obj, Config):
        obj = obj.to_dict()
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items() if k != '_scope_'}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    return obj


def train_config(dataset, arch, head):
    return load(DATASETS[dataset][0].format(arch=arch, head=head))


def mmseg_segmenter(arch, head):
    return load(f'mmseg::segmenter/{MMSEG_SEGMENTER[arch, head]}_8xb1-160k_ade20k-512x512.py')


def test_every_config_is_there():
    found = {p.relative_to(SEG).as_posix() for p in SEG.glob('[!_]*/*.py')}
    expected = {DATASETS[d][0].format(arch=a, head=h) for d, a, h in CASES}
    expected |= {f'transfer/segmenter_vit-{a}-frozen_{h}_{s}-to-{t}.py' for _, a, h in CASES
                 for s, t in (('nuimages', 'cityscapes'), ('cityscapes', 'nuimages'))}
    assert found == expected


@pytest.mark.parametrize('dataset,arch,head', CASES)
def test_training_configs_follow_the_protocol(dataset, arch, head):
    cfg = train_config(dataset, arch, head)
    _, dataset_type, classes, crop, _ = DATASETS[dataset]
    vit_arch, width, heads = ARCHS[arch]
    # frozen pre-trained backbone, as pre-trained, teacher weights, nothing injected by EncoderDecoder
    assert cfg.model.pretrained is None
    backbone = cfg.model.backbone
    assert (backbone.type, backbone.arch, backbone.patch_size, backbone.img_size) == \
        ('FrozenPretrainedViT', vit_arch, 16, 224)
    assert backbone.which == 'teacher' and backbone.checkpoint is None and backbone.out_type == 'featmap'
    pretrain = Config.fromfile(str(ROOT / 'configs/pretrain/_base_/models.py'))
    assert cfg.model.data_preprocessor.mean == pretrain.data_preprocessor.mean
    assert cfg.model.data_preprocessor.std == pretrain.data_preprocessor.std
    assert tuple(cfg.model.data_preprocessor.size) == crop
    # head: Segmenter's, with this width and the dataset's classes
    head_cfg = cfg.model.decode_head
    assert head_cfg.type == {'linear': 'FCNHead', 'mask': 'SegmenterMaskTransformerHead'}[head]
    assert head_cfg.in_channels == head_cfg.channels == width and head_cfg.num_classes == len(classes)
    if head == 'mask':
        assert head_cfg.num_heads == heads and head_cfg.embed_dims == width
    assert tuple(cfg.model.test_cfg.crop_size) == crop and cfg.model.test_cfg.mode == 'slide'
    # 160k iterations of SGD with the sweep's first learning rate, head parameters only
    assert cfg.train_cfg.max_iters == 160000
    optimizer = cfg.optim_wrapper.optimizer
    assert optimizer.type == 'SGD' and optimizer.lr in PAPER_LRS and optimizer.weight_decay == 0.0
    assert cfg.optim_wrapper.constructor == 'TrainableParamsOptimWrapperConstructor'
    assert cfg.param_scheduler[0].type == 'PolyLR' and cfg.param_scheduler[0].end == 160000
    # data: the dataset, 8 GPUs x 1 image, per-class IoU
    assert cfg.train_dataloader.dataset.type == dataset_type and cfg.train_dataloader.batch_size == 1
    assert tuple(cfg.crop_size) == crop
    assert cfg.val_evaluator.type == cfg.test_evaluator.type == 'PerClassIoUMetric'
    assert 's3pt_mm.seg' in cfg.custom_imports.imports


@pytest.mark.parametrize('dataset,arch,head', CASES)
def test_training_configs_match_mmseg(dataset, arch, head):
    """Everything but backbone, normalisation, learning rate and dataset is mmseg's Segmenter config;
    the data pipelines are mmseg's ADE20K (nuImages, without reduce_zero_label) and cityscapes_768x768."""
    cfg, ref = plain(train_config(dataset, arch, head)), plain(mmseg_segmenter(arch, head))
    width = ARCHS[arch][1]
    expected_head = dict(ref['model']['decode_head'], num_classes=len(DATASETS[dataset][2]))
    if head == 'linear':
        expected_head.update(in_channels=width, channels=width)
    assert cfg['model']['decode_head'] == expected_head
    for key in ('param_scheduler', 'train_cfg', 'val_cfg', 'test_cfg', 'default_hooks', 'env_cfg'):
        assert cfg[key] == ref[key], key
    lr_free = [{k: v for k, v in c['optim_wrapper']['optimizer'].items() if k != 'lr'} for c in (cfg, ref)]
    assert lr_free[0] == lr_free[1]
    data_ref = plain(load(DATASETS[dataset][4]))
    for key in ('train_pipeline', 'test_pipeline'):
        assert cfg[key] == [{k: v for k, v in step.items() if k != 'reduce_zero_label'}
                            for step in data_ref[key]], key
    assert cfg['train_dataloader']['dataset']['pipeline'] == cfg['train_pipeline']
    assert cfg['test_dataloader']['dataset']['pipeline'] == cfg['test_pipeline']


@pytest.mark.parametrize('arch', ARCHS)
@pytest.mark.parametrize('head', ('linear', 'mask'))
@pytest.mark.parametrize('source,target', (('nuimages', 'cityscapes'), ('cityscapes', 'nuimages')))
def test_transfer_configs_test_the_source_model_on_the_target(source, target, arch, head):
    cfg = load(f'transfer/segmenter_vit-{arch}-frozen_{head}_{source}-to-{target}.py')
    trained = train_config(source, arch, head)
    assert cfg.model == trained.model  # the trained model, exactly
    assert cfg.test_dataloader.dataset == train_config(target, arch, head).test_dataloader.dataset
    assert cfg.test_evaluator.type == 'DomainTransferIoUMetric'
    assert (cfg.test_evaluator.source, cfg.test_evaluator.target) == (source, target)


@pytest.mark.parametrize('dataset,arch,head', CASES)
def test_base_batch_is_the_config_names_gpus_x_batch(dataset, arch, head):
    """``8xb1`` in the name (mmseg's Segmenter convention): the learning rates are for a total batch of 8."""
    path = DATASETS[dataset][0].format(arch=arch, head=head)
    gpus, per_gpu = map(int, re.search(r'_(\d+)xb(\d+)-', path).groups())
    cfg = load(path)
    assert cfg.train_dataloader.batch_size == per_gpu
    assert cfg.auto_scale_lr.base_batch_size == gpus * per_gpu and not cfg.auto_scale_lr.enable


def test_twelve_class_variant_config():
    cfg = Config.fromfile(str(ROOT / 'configs/segmentation/_base_/nuimages_12classes.py'))
    assert tuple(cfg.classes) == NUIMAGES_SEG_CLASSES_12 and cfg.model.decode_head.num_classes == 12
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        assert tuple(cfg[loader].dataset.metainfo.classes) == NUIMAGES_SEG_CLASSES_12


def _sweep_tool():
    spec = importlib.util.spec_from_file_location('seg_lr_sweep', ROOT / 'tools' / 'seg_lr_sweep.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sweep_runs_at_the_configs_total_batch(capsys):
    sweep = _sweep_tool()
    config = str(SEG / DATASETS['nuimages'][0].format(arch='s16', head='linear'))

    def args(gpus=None, auto_scale_lr=False, cfg_options=None):
        return sweep.argparse.Namespace(config=config, gpus=gpus, auto_scale_lr=auto_scale_lr,
                                        cfg_options=cfg_options)

    assert sweep.resolve_gpus(args()) == 8  # 8xb1
    with pytest.raises(SystemExit, match='1 GPU.* = batch 1, but the learning rates are for .* 8; use --gpus 8'):
        sweep.resolve_gpus(args(gpus=1))
    assert sweep.resolve_gpus(args(gpus=1, auto_scale_lr=True)) == 1
    assert 'scales each rate by 1/8' in capsys.readouterr().out
    assert sweep.resolve_gpus(args(cfg_options=['train_dataloader.batch_size=4'])) == 2
