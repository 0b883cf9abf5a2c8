# The 12-class variant of nuImages: the ego vehicle ignored (255) instead of a class; the same converted
# labels, mapped by mmseg's label_map (id 12 -> 255) as they are loaded. Not the default: the paper's
# Table 9 "Overall" needs 13 classes (docs/segmentation.md). Add it after a nuImages config, e.g.
#   _base_ = ['../nuimages/segmenter_vit-s16-frozen_linear_8xb1-160k_nuimages-512x512.py',
#             '../_base_/nuimages_12classes.py']
# (and source='nuimages12' / target='nuimages12' in a DomainTransferIoUMetric).
classes = ('background', 'driveable surface', 'car', 'truck', 'trailer', 'bus', 'construction vehicle', 'bicycle',
           'motorcycle', 'pedestrian', 'traffic cone', 'barrier')
model = dict(decode_head=dict(num_classes=len(classes)))
train_dataloader = dict(dataset=dict(metainfo=dict(classes=classes)))
val_dataloader = dict(dataset=dict(metainfo=dict(classes=classes)))
test_dataloader = val_dataloader
