# Runtime of the 3D detection configs: mmdetection3d 1.4's own default runtime (mmdet3d scope, hooks, env,
# logging), with s3pt_mm.det3d imported (PETR's parts) and a checkpoint every epoch (mmdet3d's base keeps
# none: interval -1), the last three kept.
_base_ = ['mmdet3d::_base_/default_runtime.py']
custom_imports = dict(imports=['s3pt_mm.det3d'], allow_failed_imports=False)
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3))
