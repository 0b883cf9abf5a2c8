"""The nuImages semantic segmentation dataset for mmseg (labels from tools/dataset_converters/nuimages_seg.py)."""
from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

from .classes import NUIMAGES_SEG_CLASSES, NUIMAGES_SEG_PALETTE


@DATASETS.register_module()
class NuImagesSegDataset(BaseSegDataset):
    """nuImages images with the converter's 13-class labels (ids 0-12, 255 ignored).

    The 12-class variant (ego vehicle ignored) is ``metainfo=dict(classes=NUIMAGES_SEG_CLASSES_12)``:
    mmseg's ``label_map`` maps the ego vehicle's id 12 to 255 when the labels are loaded.

    ``ann_file`` is a split file of the converter (``semantic_splits/train.txt``), one
    ``samples/CAM_*/<name>`` per line; the image is ``<img_path>/<line>.jpg`` and the label
    ``<seg_map_path>/<line>.png``. Class 0 (background) is a real class, so ``reduce_zero_label`` is
    False, unlike ADE20K.
    """
    METAINFO = dict(classes=NUIMAGES_SEG_CLASSES, palette=NUIMAGES_SEG_PALETTE)

    def __init__(self, ann_file='', img_suffix='.jpg', seg_map_suffix='.png', reduce_zero_label=False,
                 **kwargs):
        if not ann_file:  # scanning the dataroot would also find the unlabelled sweeps
            raise ValueError('NuImagesSegDataset needs ann_file, a split file written by '
                             'tools/dataset_converters/nuimages_seg.py (semantic_splits/<split>.txt)')
        super().__init__(ann_file=ann_file, img_suffix=img_suffix, seg_map_suffix=seg_map_suffix,
                         reduce_zero_label=reduce_zero_label, **kwargs)
