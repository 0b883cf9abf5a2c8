"""One pre-training step of the official CrIBo code next to s3pt_mm's CrIBo and S3PT configurations.

Each code runs in its own worker process (``tools/benchmark.py --step-worker KIND``, own peak memory);
the parent alternates single steps reference / CrIBo / S3PT / reference / ... while the other workers
wait idle on a pipe, and reports medians, the ratio and a per-part breakdown. Same settings for all: the
same uint8 views and crop geometry, ViT-S/16, two 224x224 views, ``--batch-size`` images, 65536 x 2
prototypes, float32, a full queue (CrIBo's 25000 images x 32 objects, random entries as CrIBo initialises
its queue; S3PT's 2500 x 128), epoch 1 (the cross-image term on, the prototypes not frozen).

Reference step: one iteration of CrIBo's own ``train_one_epoch`` (teacher forward, clustering, student
forward, nearest-neighbour retrieval + queue update, heads, ``CrIBoLoss``, backward, AdamW step, EMA),
from :mod:`cribo_reference`. Ours: ``model.train_step(data, optim_wrapper)`` + ``model.update_teacher(m)``.
"""
import json
import math
import os
import os.path as osp
import resource
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = dict(cribo='configs/pretrain/cribo_vit-s16_8xb32-500e_nuscenes.py',
               s3pt='configs/pretrain/s3pt_vit-s16_8xb32-500e_nuscenes.py')
NAMES = dict(reference='official CrIBo', cribo='s3pt_mm CrIBo config', s3pt='s3pt_mm S3PT config')


def make_inputs(batch, seed=0, image_hw=(900, 1600), scale=(0.25, 1.0), patch=16, size=224):
    """Same images and crop geometry for every code: uint8 views (ours), pixel-position maps (CrIBo's
    ``RandomResizedCropWithPos`` output, (B, 2, size, size), channel 0 = x), token centres (the patch means
    of those maps, what CrIBo computes in ``train_one_epoch`` and our packer provides) and token depths."""
    import torch
    g = torch.Generator().manual_seed(seed)
    height, width = image_hw
    views, pos_maps = [], []
    for _ in range(2):
        views.append(torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8, generator=g))
        maps = []
        for _ in range(batch):
            area = height * width * float(torch.empty(1).uniform_(*scale, generator=g))
            ratio = math.exp(float(torch.empty(1).uniform_(math.log(3 / 4), math.log(4 / 3), generator=g)))
            w = min(width, int(round(math.sqrt(area * ratio))))
            h = min(height, int(round(math.sqrt(area / ratio))))
            x0 = int(torch.randint(0, width - w + 1, (1, ), generator=g))
            y0 = int(torch.randint(0, height - h + 1, (1, ), generator=g))
            xs = x0 + (torch.arange(size) + 0.5) * w / size - 0.5
            ys = y0 + (torch.arange(size) + 0.5) * h / size - 0.5
            maps.append(torch.stack([xs[None, :].expand(size, size), ys[:, None].expand(size, size)]))
        pos_maps.append(torch.stack(maps))
    n = size // patch
    token_pos = [m.reshape(batch, 2, n, patch, n, patch).mean(dim=(3, 5)).reshape(batch, 2, n * n).transpose(1, 2)
                 for m in pos_maps]  # (B, P, 2) per view
    depths = torch.rand(batch, 2, n * n, generator=g) * 58 + 2
    return views, pos_maps, token_pos, depths


def peak_rss_mib():
    """This process's peak resident memory in MiB: ``VmHWM`` of /proc/self/status on Linux, which starts
    anew at ``exec`` (``ru_maxrss`` keeps the parent's peak across fork + exec, so a worker started by a
    process that had built a model would report that model's memory); ``ru_maxrss`` elsewhere."""
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_memory_mib(device):
    """Peak memory of the run so far in MiB: the CUDA allocator's peak on a GPU, :func:`peak_rss_mib` on the
    CPU."""
    import torch
    if device.type == 'cuda':
        return torch.cuda.max_memory_allocated(device) / 2**20
    return peak_rss_mib()


def reset_peak_memory(device):
    """Start :func:`peak_memory_mib` anew on a GPU (cached blocks released first); the CPU's RSS peak cannot
    be reset."""
    import torch
    if device.type == 'cuda':
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def synchronize(device):
    """Wait for ``device``'s queued work (a no-op on the CPU), before reading a clock."""
    import torch
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def check_finite_losses(log_vars, step, what=''):
    """Stop (``SystemExit``, non-zero exit) when a loss term of a step's ``log_vars`` (``train_step``'s
    returns) is not finite, naming the terms and the step: a benchmark must not report the speed of a
    diverged run (under fp16 AMP the GradScaler skips the update of a non-finite step, so the run goes on)."""
    import torch
    bad = {name: float(value) for name, value in log_vars.items()
           if 'loss' in name and not bool(torch.isfinite(torch.as_tensor(value)).all())}
    if bad:
        terms = ', '.join(f'{name}={value}' for name, value in bad.items())
        raise SystemExit(f'non-finite loss at step {step}{f" of {what}" if what else ""}: {terms}')


def median(values):
    values = sorted(values)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else 0.5 * (values[mid - 1] + values[mid])


class PartTimer:
    """Wall time per named part while ``active``, by wrapping callables (CPU: synchronous). A wrapped
    callable called inside another one counts towards the outer part only."""

    def __init__(self):
        self.active, self.acc, self.depth = False, {}, 0

    def wrap(self, name, fn):
        def timed(*args, **kwargs):
            if not self.active or self.depth:
                return fn(*args, **kwargs)
            self.depth += 1
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.depth -= 1
                self.acc[name] = self.acc.get(name, 0.0) + time.perf_counter() - start
        return timed

    def measure(self, step):
        self.acc, self.active = {}, True
        try:
            start = time.perf_counter()
            step()
            total = time.perf_counter() - start
        finally:
            self.active = False
        parts = dict(self.acc)
        parts['other'] = total - sum(parts.values())
        return total, parts


class ReferenceStep:
    """The official CrIBo step (ViT-S/16 of CrIBo's ``source/``)."""

    def __init__(self, opts):
        import torch
        import torch.nn as nn

        from cribo_reference import cribo_args, cribo_dir_or_exit, load_cribo
        cribo_dir = cribo_dir_or_exit(opts.cribo_dir)
        cribo, get_args_parser = load_cribo(cribo_dir)
        from source.models import vision_transformer as vits
        from source.utils import utils
        self.cribo = cribo
        args = cribo_args(get_args_parser, arch='vit_small', patch_size=16, batch_size_per_gpu=opts.batch_size,
                          out_dim=opts.prototypes, out_dim_c=opts.prototypes, use_fp16=False,
                          local_crops_number=0, num_workers=0, queue_size=opts.queue_images, epochs=100,
                          warmup_teacher_temp_epochs=30, warmup_epochs=10)
        self.args = args

        class OneProcessDDP(nn.Module):
            def __init__(self, module):
                super().__init__()
                self.module = module

            def forward(self, *a, **k):
                return self.module(*a, **k)

        torch.manual_seed(0)
        student = vits.vit_small(patch_size=16, drop_path_rate=args.drop_path_rate, is_teacher=False)
        teacher = vits.vit_small(patch_size=16)
        embed = student.embed_dim
        student = utils.MultiCropWrapperDINO(student, vits.DINOHead(
            embed, args.out_dim, args.out_dim_c, use_bn=args.use_bn_in_head, norm_last_layer=args.norm_last_layer),
            args.which_features)
        teacher = utils.MultiCropWrapperDINO(teacher, vits.DINOHead(
            embed, args.out_dim, args.out_dim_c, args.use_bn_in_head), args.which_features)
        self.clustering = cribo.Clustering(args, n_tokens=args.n_tokens, n_heads=1,
                                           sinkhorn_lambda=args.sinkhorn_lambda,
                                           sinkhorn_iterations=args.sinkhorn_iterations,
                                           student_temp=args.student_temp, pos_alpha=args.pos_alpha)
        self.student, self.teacher = OneProcessDDP(student), teacher
        teacher.load_state_dict(student.state_dict(), strict=False)
        teacher.requires_grad_(False)
        # The queues as train_cribo creates them: random, every image slot holding n_tokens centroids.
        self.cls_queue = torch.rand(2, args.queue_size, embed)
        self.cpv_queue = args.n_tokens * torch.ones(args.queue_size, dtype=torch.int)
        self.centroids_queue = torch.rand(2, args.n_tokens * args.queue_size, embed)
        self.loss = cribo.CrIBoLoss(
            out_dim=args.out_dim, out_dim_c=args.out_dim_c, ncrops=args.local_crops_number + 2,
            warmup_teacher_temp=args.warmup_teacher_temp, warmup_teacher_temp_c=args.warmup_teacher_temp_c,
            teacher_temp=args.teacher_temp, teacher_temp_c=args.teacher_temp_c,
            warmup_teacher_temp_epochs=args.warmup_teacher_temp_epochs, nepochs=args.epochs,
            student_temp_c=args.student_temp_c, args=args)
        self.optimizer = torch.optim.AdamW(utils.get_params_groups(self.student))
        self.lr = utils.cosine_scheduler(args.lr * args.batch_size_per_gpu / 256., args.min_lr, args.epochs, 1,
                                         warmup_epochs=args.warmup_epochs)
        self.wd = utils.cosine_scheduler(args.weight_decay, args.weight_decay_end, args.epochs, 1)
        self.momentum = utils.cosine_scheduler(args.momentum_teacher, 1, args.epochs, 1)
        views, pos_maps, _, _ = make_inputs(opts.batch_size)
        mean = torch.tensor([123.675, 116.28, 103.53])[None, :, None, None]
        std = torch.tensor([58.395, 57.12, 57.375])[None, :, None, None]
        self.batch = ([(v.float() - mean) / std for v in views], pos_maps)  # CrIBo normalises in its workers
        self.timer = PartTimer()
        self._instrument()

    def _instrument(self):
        import torch
        timer, cribo = self.timer, self.cribo
        self._nn = timer.wrap('NN retrieval + queue update', cribo.get_nn_centroids)
        self.cribo.train_one_epoch.__globals__['get_nn_centroids'] = self._nn
        c = self.clustering
        c.compute_teacher_centroids = timer.wrap('clustering', c.compute_teacher_centroids)
        c.compute_student_centroids = timer.wrap('object pooling', c.compute_student_centroids)
        for net, who in ((self.student.module, 'student'), (self.teacher, 'teacher')):
            net.backbone.forward = timer.wrap(f'{who} backbone fwd', net.backbone.forward)
            net.head.forward = timer.wrap(f'{who} heads fwd', net.head.forward)
            net.head.forward_c = timer.wrap(f'{who} heads fwd', net.head.forward_c)
        self.loss.forward = timer.wrap('loss terms (incl. centering)', self.loss.forward)
        self.optimizer.step = timer.wrap('optimizer step', self.optimizer.step)
        self._backward = torch.Tensor.backward

    def step(self):
        batch = self.batch

        class OneBatch:  # a loader of one batch whose iterator has a length (CrIBo's logger asks for it)
            def __init__(self):
                self.done = False

            def __iter__(self):
                return self

            def __len__(self):
                return 1

            def __next__(self):
                if self.done:
                    raise StopIteration
                self.done = True
                return batch

        self.cribo.train_one_epoch(self.student, self.teacher, self.teacher, self.loss, OneBatch(), self.optimizer,
                                   self.lr, self.wd, self.momentum, 1, None, self.clustering, self.args,
                                   self.centroids_queue, self.cls_queue, self.cpv_queue)

    def parts(self):
        import torch
        torch.Tensor.backward = self.timer.wrap('backward', self._backward)
        try:
            return self.timer.measure(self.step)
        finally:
            torch.Tensor.backward = self._backward


def build_pretrain_model(config, prototypes=65536, queue_images=None, queue_size=None):
    """``(model, cfg)``: the pre-training model of ``config`` (a path under the repository root), built and
    initialised with seed 0, in training mode at epoch 1 (the cross-image term on), its queue full
    (:func:`fill_queue`). ``prototypes`` replaces the configs' 65536; ``queue_images`` the CrIBo queue's
    25000 images; ``queue_size`` the queue of any config that has one, in the model only (``cfg`` keeps the
    config's)."""
    import torch
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS

    import s3pt_mm.engine  # noqa: F401  (the DINO optimizer wrappers)
    import s3pt_mm.models  # noqa: F401
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(osp.join(ROOT, config))
    model_cfg = cfg.model
    if prototypes != 65536:
        model_cfg.head.num_prototypes = prototypes
        model_cfg.global_loss.out_channels = model_cfg.object_loss.out_channels = prototypes
    if queue_images and 'cribo' in osp.basename(config):
        model_cfg.queue_size = queue_images
    if queue_size is not None and model_cfg.get('queue_size'):
        model_cfg = model_cfg.copy()
        model_cfg.queue_size = queue_size
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    model.init_weights()
    model.train()
    model.set_epoch(1)
    fill_queue(model.queue)
    return model, cfg


def pretrain_data(batch_size):
    """The batch of :func:`make_inputs` as s3pt_mm's pre-training pipeline packs it: uint8 views and, per
    image, the token positions, depths and depth validity of both views."""
    import torch
    from mmpretrain.structures import DataSample
    views, _, token_pos, depths = make_inputs(batch_size)
    samples = []
    for b in range(batch_size):
        sample = DataSample()
        sample.set_field(torch.stack([token_pos[0][b], token_pos[1][b]]), 'token_positions')
        sample.set_field(depths[b], 'token_depths')
        sample.set_field(torch.ones(2, depths.shape[-1], dtype=torch.bool), 'token_depth_valid')
        samples.append(sample)
    return dict(inputs=views, data_samples=samples)


class ProjectStep:
    """s3pt_mm's step with the CrIBo or S3PT ViT-S/16 configuration."""

    def __init__(self, opts, config):
        from mmengine.optim import build_optim_wrapper

        import s3pt_mm.models.algorithms.s3pt as s3pt_module
        model, cfg = build_pretrain_model(config, opts.prototypes, opts.queue_images)
        self.model = model
        self.optim = build_optim_wrapper(model, dict(type='DINOOptimWrapper', optimizer=cfg.optim_wrapper.optimizer,
                                                     paramwise_cfg=cfg.optim_wrapper.get('paramwise_cfg')))
        self.data = pretrain_data(opts.batch_size)
        self.timer = timer = PartTimer()
        model.data_preprocessor.forward = timer.wrap('data preprocessor', model.data_preprocessor.forward)
        model.teacher.backbone.forward = timer.wrap('teacher backbone fwd', model.teacher.backbone.forward)
        model.backbone.forward = timer.wrap('student backbone fwd', model.backbone.forward)
        model.clustering.forward = timer.wrap('clustering', model.clustering.forward)
        self._pooling = s3pt_module.objects_in_both_views
        s3pt_module.objects_in_both_views = timer.wrap('object pooling', self._pooling)
        queue = model.queue
        queue.cycle_consistent_neighbours = timer.wrap('NN retrieval + queue update', queue.cycle_consistent_neighbours)
        queue.enqueue = timer.wrap('NN retrieval + queue update', queue.enqueue)
        for crit in (model.global_loss, model.object_loss):
            crit.teacher_targets = timer.wrap('teacher heads fwd (incl. softmax, centering)', crit.teacher_targets)
            crit.student_logits = timer.wrap('student heads fwd', crit.student_logits)
            crit.cross_entropy = timer.wrap('loss terms', crit.cross_entropy)
        self.optim.backward = timer.wrap('backward', self.optim.backward)
        self.optim.step = timer.wrap('optimizer step', self.optim.step)
        model.update_teacher = timer.wrap('EMA update', model.update_teacher)

    def step(self):
        self.model.train_step(self.data, self.optim)
        self.model.update_teacher(0.996)

    def parts(self):
        return self.timer.measure(self.step)


def fill_queue(queue, seed=0):
    """Every slot written, with random entries as CrIBo initialises its queue (uniform in [0, 1))."""
    import torch
    if queue is None:
        return
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        queue.features.copy_(torch.rand(queue.features.shape, generator=g))
        norms = queue.features.norm(dim=-1)
        queue.inv_norms.copy_(1.0 / norms)
        queue.keys.copy_(queue.features / norms[..., None])
        queue.image_counts.fill_(queue.capacity // queue.num_images)
        queue.object_ptr.zero_()
        queue.image_ptr.zero_()


def worker(kind, opts):
    """Serve ``step`` / ``parts`` / ``info`` / ``quit`` requests on stdin, one JSON reply per line."""
    replies = os.fdopen(os.dup(1), 'w', buffering=1)
    os.dup2(2, 1)  # whatever the codes print goes to the worker's log; the pipe carries replies only
    sys.stdout = os.fdopen(1, 'w', buffering=1)
    import warnings
    warnings.filterwarnings('ignore')
    import torch
    torch.set_num_threads(opts.threads)
    start = time.perf_counter()
    runner = ReferenceStep(opts) if kind == 'reference' else ProjectStep(opts, CONFIGS[kind])

    def reply(**kwargs):
        replies.write(json.dumps(kwargs) + '\n')

    reply(build_s=time.perf_counter() - start)
    for line in sys.stdin:
        command = line.strip()
        if command == 'step':
            start = time.perf_counter()
            runner.step()
            reply(s=time.perf_counter() - start)
        elif command == 'parts':
            total, parts = runner.parts()
            reply(s=total, parts=parts)
        elif command == 'info':
            reply(peak_rss_mib=peak_rss_mib())
        elif command == 'quit':
            reply(ok=True)
            return


class Worker:
    def __init__(self, kind, script, argv, log_dir):
        self.kind = kind
        self.log = open(osp.join(log_dir, f'step-worker-{kind}.log'), 'w')
        self.proc = subprocess.Popen([sys.executable, script, '--step-worker', kind] + argv, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.log, text=True, bufsize=1)

    def ask(self, command):
        self.proc.stdin.write(command + '\n')
        self.proc.stdin.flush()
        return self.read()

    def read(self):
        line = self.proc.stdout.readline()
        if not line:
            self.log.flush()
            with open(self.log.name) as f:
                raise SystemExit(f'step worker {self.kind} died:\n{f.read()[-3000:]}')
        return json.loads(line)


def compare_steps(opts, script, argv, kinds):
    """Figures {name: value} of the side-by-side run; prints progress and the per-part table to stderr."""
    import tempfile
    log_dir = tempfile.mkdtemp(prefix='s3pt_step_bench_')
    print(f'[step] batch {opts.batch_size}, 2 x 224^2 views, ViT-S/16, {opts.prototypes} x 2 prototypes, '
          f'CrIBo queue {opts.queue_images} images, {opts.threads} threads, float32; logs in {log_dir}',
          file=sys.stderr, flush=True)
    workers = {}
    for kind in kinds:
        workers[kind] = Worker(kind, script, argv, log_dir)
        print(f'[step] {kind} built in {workers[kind].read()["build_s"]:.1f} s', file=sys.stderr, flush=True)
        for _ in range(opts.warmup):
            workers[kind].ask('step')
    times = {kind: [] for kind in kinds}
    for r in range(opts.rounds):
        for kind in kinds:
            times[kind].append(workers[kind].ask('step')['s'])
        print(f'[step] round {r + 1}: ' + ', '.join(f'{k} {times[k][-1]:.2f} s' for k in kinds), file=sys.stderr,
              flush=True)
    parts = {kind: [workers[kind].ask('parts') for _ in range(opts.part_steps)] for kind in kinds}
    peaks = {kind: workers[kind].ask('info')['peak_rss_mib'] for kind in kinds}
    for kind in kinds:
        workers[kind].ask('quit')
    figures = {}
    for kind in kinds:
        step_s = median(times[kind])
        figures[f'{NAMES[kind]}: s/step (median of {opts.rounds})'] = step_s
        figures[f'{NAMES[kind]}: images/s'] = opts.batch_size / step_s
        figures[f'{NAMES[kind]}: peak RSS MiB'] = peaks[kind]
    if 'reference' in kinds:
        for kind in ('cribo', 's3pt'):
            if kind in kinds:
                figures[f'speed-up of the {NAMES[kind]} over the official CrIBo step'] = \
                    median(times['reference']) / median(times[kind])
    for kind in kinds:
        names = list(parts[kind][-1]['parts'])
        total = median([p['s'] for p in parts[kind]])
        for name in names:
            figures[f'{NAMES[kind]} part: {name} s'] = median([p['parts'].get(name, 0.0) for p in parts[kind]])
        figures[f'{NAMES[kind]} part: total s (instrumented)'] = total
    return figures
