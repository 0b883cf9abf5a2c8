"""FrozenPretrainedViT, the backbone of the segmentation and PETR evaluations: the same class in mmpretrain's,
mmseg's and mmdet3d's registries; loads the pre-training teacher (or student), stays frozen, stays out of
the optimizer, fails loudly."""
import pytest
import torch
from mmpretrain.models import VisionTransformer
from mmseg.registry import MODELS, OPTIM_WRAPPER_CONSTRUCTORS

import s3pt_mm.seg  # noqa: F401  (registers the mmseg parts)
from s3pt_mm.downstream import FrozenPretrainedViT, TrainableParamsOptimWrapperConstructor

ARCH = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)


def _vit(seed, arch=ARCH):
    torch.manual_seed(seed)
    vit = VisionTransformer(arch=arch, img_size=64, patch_size=16, out_type='raw')
    with torch.no_grad():  # a distinct, non-default value in every tensor
        for p in vit.parameters():
            p.normal_()
    return vit


def _save(path, state_dict):
    torch.save({'meta': {'epoch': 1}, 'state_dict': state_dict}, path)
    return str(path)


@pytest.fixture(scope='module')
def pretraining_ckpt(tmp_path_factory):
    """A checkpoint in the layout of the pre-training model: student, teacher, heads."""
    student, teacher = _vit(0), _vit(1)
    state = {f'backbone.{k}': v for k, v in student.state_dict().items()}
    state.update({f'teacher.backbone.{k}': v for k, v in teacher.state_dict().items()})
    state['head.last_layer.weight'] = torch.zeros(4, 4)
    state['teacher.head.last_layer.weight'] = torch.zeros(4, 4)
    path = _save(tmp_path_factory.mktemp('pre') / 'epoch_1.pth', state)
    return path, student.state_dict(), teacher.state_dict()


def _frozen(checkpoint, **kwargs):
    return MODELS.build(dict(type='FrozenPretrainedViT', checkpoint=checkpoint, arch=ARCH, img_size=64,
                             patch_size=16, **kwargs))


def _assert_weights(model, expected):
    own = model.state_dict()
    assert own.keys() == expected.keys()
    for k, v in expected.items():
        assert torch.equal(own[k], v), k


def test_one_class_in_every_downstream_registry():
    from mmpretrain.registry import MODELS as PRETRAIN_MODELS
    from mmpretrain.registry import OPTIM_WRAPPER_CONSTRUCTORS as PRETRAIN_CONSTRUCTORS
    registries = [(MODELS, OPTIM_WRAPPER_CONSTRUCTORS), (PRETRAIN_MODELS, PRETRAIN_CONSTRUCTORS)]
    try:
        import s3pt_mm.det3d  # noqa: F401
        from mmdet3d.registry import MODELS as DET3D_MODELS
        from mmdet3d.registry import OPTIM_WRAPPER_CONSTRUCTORS as DET3D_CONSTRUCTORS
        registries.append((DET3D_MODELS, DET3D_CONSTRUCTORS))
    except ImportError:  # mmdet3d is optional for segmentation users
        pass
    for models, constructors in registries:
        assert models.get('FrozenPretrainedViT') is FrozenPretrainedViT, models.scope
        assert constructors.get('TrainableParamsOptimWrapperConstructor') is \
            TrainableParamsOptimWrapperConstructor, constructors.scope


def test_loads_the_teacher_by_default_and_the_student_on_request(pretraining_ckpt):
    path, student, teacher = pretraining_ckpt
    model = _frozen(path)
    model.init_weights()
    _assert_weights(model, teacher)
    model = _frozen(path, which='student')
    model.init_weights()
    _assert_weights(model, student)


def test_position_embedding_resized_to_the_input_when_loading(pretraining_ckpt):
    """PETR sets img_size to its input: the 4 x 4 pre-training grid becomes 2 x 4 once, at load time."""
    path, _, teacher = pretraining_ckpt
    model = MODELS.build(dict(type='FrozenPretrainedViT', checkpoint=path, arch=ARCH, img_size=(32, 64),
                              patch_size=16))
    model.init_weights()
    assert model.pos_embed.shape == (1, 1 + 2 * 4, 32)
    torch.testing.assert_close(model.pos_embed[:, 0], teacher['pos_embed'][:, 0])  # class token's own
    (feat, ) = model(torch.randn(3, 3, 32, 64))
    assert feat.shape == (3, 32, 2, 4)


def test_is_frozen(pretraining_ckpt):
    model = _frozen(pretraining_ckpt[0], drop_path_rate=0.5)
    model.init_weights()
    assert not any(p.requires_grad for p in model.parameters())
    model.train()
    assert not model.training and not any(m.training for m in model.modules())
    x = torch.randn(2, 3, 96, 64, requires_grad=True)
    (feat,) = model(x)
    assert feat.shape == (2, 32, 6, 4) and not feat.requires_grad  # featmap of a larger input
    torch.testing.assert_close(model(x)[0], feat)  # deterministic: no drop path


def test_optimizer_holds_only_trainable_parameters(pretraining_ckpt):
    head = torch.nn.Linear(32, 3)
    model = torch.nn.ModuleDict(dict(backbone=_frozen(pretraining_ckpt[0]), head=head))
    for paramwise_cfg in (None, dict(norm_decay_mult=0.0)):
        constructor = OPTIM_WRAPPER_CONSTRUCTORS.build(dict(
            type='TrainableParamsOptimWrapperConstructor',
            optim_wrapper_cfg=dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4)),
            paramwise_cfg=paramwise_cfg))
        optimizer = constructor(model).optimizer
        params = [p for group in optimizer.param_groups for p in group['params']]
        assert {id(p) for p in params} == {id(p) for p in head.parameters()}


def test_clear_errors(pretraining_ckpt, tmp_path):
    missing = str(tmp_path / 'nope.pth')
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        _frozen(missing).init_weights()

    classifier = _save(tmp_path / 'classifier.pth', {'fc.weight': torch.zeros(2, 2), 'fc.bias': torch.zeros(2)})
    with pytest.raises(KeyError) as error:
        _frozen(classifier).init_weights()
    assert 'classifier.pth' in str(error.value) and 'teacher.backbone.' in str(error.value)
    assert 'fc.weight' in str(error.value)

    with pytest.raises(ValueError, match='model.backbone.checkpoint'):
        _frozen(None).init_weights()

    wide = dict(ARCH, embed_dims=48, num_heads=3)
    other_arch = _save(tmp_path / 'wide.pth', {f'teacher.backbone.{k}': v
                                                for k, v in _vit(2, wide).state_dict().items()})
    with pytest.raises(RuntimeError, match='does not fit this ViT'):
        _frozen(other_arch).init_weights()

    partial = {f'teacher.backbone.{k}': v for k, v in _vit(3).state_dict().items() if 'layers.1.' not in k}
    with pytest.raises(RuntimeError, match=r'lacks .* weights.*layers\.1\.'):
        _frozen(_save(tmp_path / 'partial.pth', partial)).init_weights()

    with pytest.raises(ValueError, match='which'):
        _frozen(pretraining_ckpt[0], which='ema')
