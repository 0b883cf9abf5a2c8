"""Info files of pre-training run no code: a crafted ``s3pt_infos_pretrain_train.pkl`` whose ``data_list``
holds a pickled ``os.system`` call, built into NuScenesPretrainDataset as the pre-training config does, is
refused with an error naming the file and what it holds, and the payload does not run; the converter's
files (and mmengine-dumped ones) still load (tests/test_datasets/test_pretrain_dataset.py, the tools'
tests)."""
import mmengine
import pytest
from mmengine.registry import init_default_scope
from mmpretrain.registry import DATASETS

import s3pt_mm.datasets  # noqa: F401  (registers the dataset; restricts mmengine's pickle loading)
from s3pt_mm.utils.info_files import UnsafeInfoFileError, load_info_file
from tests.payloads import assert_info_file_refused, crafted_info_file

ENTRY = dict(img_path='samples/CAM_FRONT/a.jpg', depth_path=None, cam='CAM_FRONT', sample_token='s',
             sample_data_token='sd', timestamp=1, height=900, width=1600)


@pytest.fixture()
def crafted(tmp_path):
    return crafted_info_file(tmp_path, 's3pt_infos_pretrain_train.pkl',
                             lambda note: dict(metainfo=dict(dataset='nuscenes'), data_list=[dict(ENTRY, note=note)]))


def test_the_pretraining_dataset_refuses_it(crafted):
    path, marker = crafted
    init_default_scope('mmpretrain')
    with pytest.raises(UnsafeInfoFileError) as error:
        DATASETS.build(dict(type='NuScenesPretrainDataset', data_root=str(path.parent),
                            ann_file='s3pt_infos_pretrain_train.pkl', pipeline=[]))
    assert_info_file_refused(error.value, path, marker)


def test_mmengine_load_refuses_it(crafted):
    """Any config or tool reading a pickle through mmengine (its pickle handler)."""
    path, marker = crafted
    with pytest.raises(UnsafeInfoFileError) as error:
        mmengine.load(str(path))
    assert_info_file_refused(error.value, path, marker)
    with pytest.raises(UnsafeInfoFileError) as error:
        load_info_file(str(path))
    assert_info_file_refused(error.value, path, marker)


def test_data_still_loads(tmp_path):
    infos = dict(metainfo=dict(dataset='nuscenes', depth_scale=256.0), data_list=[ENTRY])
    for name in ('infos.pkl', 'infos.json'):
        mmengine.dump(infos, str(tmp_path / name))
        assert load_info_file(str(tmp_path / name)) == infos
        assert mmengine.load(str(tmp_path / name)) == infos


def test_restriction_is_idempotent():
    """Applied on every import of s3pt_mm.datasets / s3pt_mm.det3d: the handler and the file-naming
    ``load`` are installed once."""
    import mmengine.dataset.base_dataset as base_dataset
    from mmengine.fileio.handlers import file_handlers

    from s3pt_mm.utils.info_files import RestrictedPickleHandler, restrict_info_file_loading
    handler, load = file_handlers['pkl'], base_dataset.load
    restrict_info_file_loading()
    restrict_info_file_loading()
    assert file_handlers['pkl'] is handler and isinstance(handler, RestrictedPickleHandler)
    assert base_dataset.load is load and mmengine.load is load and load.__wrapped__.__module__ == 'mmengine.fileio.io'
