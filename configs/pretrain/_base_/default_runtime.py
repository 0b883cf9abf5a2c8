# Runtime shared by all pre-training configs (mmpretrain scope, s3pt_mm parts imported by name).
default_scope = 'mmpretrain'
custom_imports = dict(
    imports=['s3pt_mm.models', 's3pt_mm.datasets', 's3pt_mm.engine'], allow_failed_imports=False)

default_hooks = dict(
    runtime_info=dict(type='RuntimeInfoHook'),
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'),
)
env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)
# Every trainable parameter is used in every step (frozen prototypes still run forward; their gradients
# are dropped by the DINO optimizer wrapper, as in DINO), so DDP needs no unused-parameter search. The
# buffers (cross-image queue, centres) are kept identical on all ranks by the algorithm's own
# all_gather / all_reduce, so DDP must not re-broadcast them from rank 0 on every forward (as CrIBo's DDP:
# broadcast_buffers=False).
model_wrapper_cfg = dict(type='MMDistributedDataParallel', find_unused_parameters=False,
                         broadcast_buffers=False)
log_processor = dict(window_size=10)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0, diff_rank_seed=True)
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='UniversalVisualizer', vis_backends=vis_backends)
