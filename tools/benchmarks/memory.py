"""Peak memory of one pre-training step per GPU at 32 images, measured on a CPU and extrapolated.

The step (``model.train_step(data, optim_wrapper)`` + ``model.update_teacher``, float32, CPU) is measured with
an allocation counter: torch's profiler with ``profile_memory=True`` records every allocation and free of the
CPU allocator (the raw ``[memory]`` records, in time order); the running sum's maximum is the step's peak above
what was allocated when it started. The model starts a measured step as in training: parameters, teacher,
AdamW state (one warm-up step ran) and a filled queue resident, gradients freed (``zero_grad`` sets them to
None), so the peak above the start holds the gradients, the activations, the (N, K) object tensors and the
transients. It is measured at a few small batches and fitted linearly in the batch:
``peak_above_start(B) = intercept + slope * B``.

The parts of the total at ``B`` images:

* parameters + gradients + AdamW state: exact, from the model (student parameters x 4: value, gradient, two
  AdamW moments; the teacher's parameters and every buffer but the queue's x 1);
* queue: exact, the bytes of the :class:`ObjectQueue` buffers at the config's ``queue_size`` (built on the
  meta device: no allocation). The measured step runs with a small queue (``--memory-queue-images``), whose
  bytes are resident before the step and so are not in the measured peak;
* object tensors: the (N, K) rows of the object term, measured on their own (teacher head + targets with
  centring, student head, the soft cross-entropies, backward through the student head) at two object counts
  and fitted linearly: ``bytes_per_object`` (an object = a cluster present in both views of an image: 2
  student rows, 2 + 2 teacher rows with the cross-image neighbours, and their softmax and gradient
  temporaries). At ``B`` images with ``o`` objects per image: ``B * o * bytes_per_object``, at most
  ``o = num_clusters``;
* activations per image and the intercept: the measured peaks less their object tensors
  (``peak(B) - B * o(B) * bytes_per_object``, ``o(B)`` the objects per image of that measured step: random
  crops share a different number of clusters at each batch), fitted linearly in the batch:
  ``intercept + activations_per_image * B``;
* transients: ``intercept - gradients`` (the gradients are counted in the first row, all of them; negative
  when the step's peak comes before the backward pass has allocated every gradient).

Total at ``B`` images = the sum of the parts = the resident bytes (parameters, AdamW state, buffers, the full
queue) + the fit at ``B`` + ``B * num_clusters * bytes_per_object``.
"""


def allocation_peak(fn):
    """``(result, peak, net)``: ``fn()``'s result, the largest running sum of its CPU allocations minus frees
    (bytes above what was allocated when it started) and the sum at its end. Counted from the profiler's raw
    ``[memory]`` records (one per allocation or free, with its time): the ``FunctionEvent`` list of
    ``prof.events()`` is not suitable, since an operator's ``cpu_memory_usage`` sums the allocations made
    inside it, also by the operators it calls, and only the allocations made outside any operator appear as
    ``[memory]`` events there."""
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        result = fn()
    records = sorted(((event.start_ns(), event.nbytes()) for event in prof.profiler.kineto_results.events()
                      if event.name() == '[memory]' and event.device_type().name == 'CPU'))
    running = peak = 0
    for _, nbytes in records:
        running += nbytes
        peak = max(peak, running)
    return result, peak, running


def linear_fit(xs, ys):
    """Least-squares ``(intercept, slope)`` of ``ys`` against ``xs`` (exact through two points)."""
    n = len(xs)
    mean_x, mean_y = sum(xs) / n, sum(ys) / n
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / sum((x - mean_x) ** 2 for x in xs)
    return mean_y - slope * mean_x, slope


def tensor_bytes(tensors):
    return sum(t.numel() * t.element_size() for t in tensors)


def full_queue_bytes(model, cfg):
    """Exact bytes of the queue's buffers at the config's ``queue_size`` (0 without a queue), built on the
    meta device (nothing allocated), and its capacity in objects."""
    import torch

    from s3pt_mm.models.utils.object_queue import ObjectQueue
    if model.queue is None:
        return 0, 0
    with torch.device('meta'):
        queue = ObjectQueue(cfg.model.queue_size, model.clustering.num_clusters, model.backbone.embed_dims)
    return tensor_bytes(queue.buffers()), queue.capacity


def build_measured_model(config, queue_images):
    """``(model, cfg, optim_wrapper)``: the config's model as tools/benchmarks/pretrain_step.py builds it
    (seed 0, initialised, training mode, epoch 1: the cross-image term on, the queue filled) with a queue of
    ``queue_images`` images (``cfg`` keeps the config's); its AdamW optimizer wrapper as the config builds
    it, in float32 (``DINOOptimWrapper``)."""
    from mmengine.optim import build_optim_wrapper

    from pretrain_step import build_pretrain_model
    model, cfg = build_pretrain_model(config, queue_size=queue_images)
    optim = build_optim_wrapper(model, dict(type='DINOOptimWrapper', optimizer=cfg.optim_wrapper.optimizer,
                                            paramwise_cfg=cfg.optim_wrapper.get('paramwise_cfg')))
    return model, cfg, optim


def measure_step(model, optim, batch):
    """``(peak_above_start, objects_per_image)`` of one step at ``batch`` images."""
    import gc

    from pretrain_step import fill_queue, pretrain_data
    data = pretrain_data(batch)
    fill_queue(model.queue)  # the same queue state before every measured step
    gc.collect()

    def step():
        log_vars = model.train_step(data, optim)
        model.update_teacher(0.996)
        return log_vars

    log_vars, peak, _ = allocation_peak(step)
    objects = float(log_vars['num_objects']) if 'num_objects' in log_vars else 0.0
    return peak, objects


def object_tensor_bytes(model, object_counts):
    """Measured bytes per object of the object term's (N, K) tensors, fitted over ``object_counts``: the
    teacher head and targets of 2O + 2O rows (the other view's objects, the retrieved neighbours), the
    student head's 2O rows, the two soft cross-entropies and the backward through the student head."""
    import torch
    channels = model.backbone.embed_dims
    crit, head, t_head = model.object_loss, model.head, model.teacher.head
    g = torch.Generator().manual_seed(0)
    peaks = []
    for num in object_counts:
        t_in = torch.randn(4 * num, channels, generator=g)
        s_in = torch.randn(2 * num, channels, generator=g, requires_grad=True)

        def run():
            t_probs = crit.teacher_targets(t_head, t_in, 'object', center_rows=2 * num)
            targets = (t_probs[:2 * num], t_probs[2 * num:])
            terms = crit.cross_entropy(crit.student_logits(head, s_in, 'object'), *targets)
            sum(term.sum() for term in terms).backward()

        model.zero_grad(set_to_none=True)
        peaks.append(allocation_peak(run)[1])
    model.zero_grad(set_to_none=True)
    return linear_fit(list(object_counts), peaks)


def memory_figures(config, batches, queue_images=16, target_batch=32):
    """The memory figures of one pre-training configuration (a path under the repository root; see the module
    docstring): a dict of bytes and counts."""
    import torch
    from pretrain_step import pretrain_data
    model, cfg, optim = build_measured_model(config, queue_images)
    model.train_step(pretrain_data(min(batches)), optim)  # the AdamW state allocated, as after step 1
    model.update_teacher(0.996)
    optim.zero_grad()
    teacher = {id(p) for p in model.teacher.parameters()}
    student = [p for p in model.parameters() if p.requires_grad and id(p) not in teacher]
    params = tensor_bytes(p for p in model.parameters())
    grads = tensor_bytes(student)
    adam = tensor_bytes(v for state in optim.optimizer.state.values() for v in state.values()
                        if torch.is_tensor(v) and v.dim() > 0)
    queue_ids = {id(b) for b in model.queue.buffers()} if model.queue is not None else set()
    buffers = tensor_bytes(b for b in model.buffers() if id(b) not in queue_ids)
    queue, capacity = full_queue_bytes(model, cfg)
    peaks, objects = [], []
    for batch in batches:
        peak, obj = measure_step(model, optim, batch)
        peaks.append(peak)
        objects.append(obj)
    num_clusters = model.clustering.num_clusters if model.clustering is not None else 0
    if num_clusters:
        obj_intercept, per_object = object_tensor_bytes(model, (num_clusters, 2 * num_clusters))
    else:
        obj_intercept, per_object = 0.0, 0.0
    # the measured peaks less their object tensors (the objects per image differ between the measured
    # steps), fitted linearly in the batch: intercept + activations per image x batch
    without_objects = [peak - batch * obj * per_object for peak, batch, obj in zip(peaks, batches, objects)]
    intercept, activations = linear_fit(list(batches), without_objects)
    static = params + grads + adam + buffers
    transients = intercept - grads
    objects_full = target_batch * num_clusters * per_object
    parts = dict(params_grads_adamw_bytes=static, queue_bytes=queue, activations_bytes=target_batch * activations,
                 object_tensors_bytes=objects_full, transient_bytes=transients)
    objects_measured = sum(objects) / len(objects)
    return dict(
        config=config, dtype='float32', device='cpu', batches=list(batches),
        measured_queue_images=queue_images, measured_peak_above_start_bytes=peaks,
        objects_per_image_measured=objects, measured_peak_less_objects_bytes=without_objects,
        fit_intercept_bytes=intercept, activation_bytes_per_image=activations,
        parameters_bytes=params, gradients_bytes=grads, adamw_state_bytes=adam, other_buffers_bytes=buffers,
        queue_images=cfg.model.get('queue_size', 0), queue_capacity_objects=capacity,
        num_clusters=num_clusters, num_prototypes=cfg.model.head.num_prototypes,
        object_bytes_per_object=per_object, object_fit_intercept_bytes=obj_intercept,
        object_rows_per_object=per_object / (4 * cfg.model.head.num_prototypes),
        target_batch=target_batch, **parts, total_bytes=sum(parts.values()),
        objects_per_image_mean=objects_measured)


def amp_estimate(fig, activation_factor=0.5):
    """An estimate (not measured) of the same total under fp16 AMP: the backbone's and heads' activations in
    half precision (``activation_factor`` of float32: autocast keeps layer norms, softmax statistics and the
    residual additions partly in float32, so 0.5 is the low end), plus autocast's fp16 copies of the student's
    and teacher's weights (2 bytes per parameter); the rest unchanged: float32 master weights, gradients and
    AdamW state, the queue (float32 features, bf16 keys), and the object tensors, which stay float32 under
    AMP (docs/mixed_precision.md: the prototype product is cast to float32, the softmax, centring and soft
    cross-entropy run in float32)."""
    return fig['total_bytes'] - (1 - activation_factor) * fig['activations_bytes'] + 2 * fig['parameters_bytes'] / 4
