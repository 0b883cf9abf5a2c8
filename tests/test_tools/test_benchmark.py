"""tools/benchmark.py as a user runs it: the sections that need no reference code print their figures and
write them as JSON (speed itself is never asserted: it lives in the benchmark's output)."""
import json

from tests.helpers import benchmark_module, run_tool


def test_clustering_and_ip_basic_sections_print_and_write_their_figures(tmp_path):
    out = tmp_path / 'bench.json'
    result = run_tool('tools/benchmark.py', '--only', 'clustering', 'ip_basic', '--repeats', '1', '--json', str(out))
    figures = json.loads(out.read_text())
    assert figures['machine']['device'] == 'cpu'
    clustering = figures['clustering']
    for positions in ('grid', 'random'):
        for setting in ('CrIBo settings (32 clusters, 5 iters)', 'S3PT settings (128 clusters, 1 iter)',
                        'S3PT settings (128 clusters, 1 iter) + depth 4'):
            assert clustering[f'ours, {setting}, {positions} positions: ms/batch'] > 0
    assert not any('official' in key for key in clustering)  # no --cribo-dir: no reference figures
    assert figures['ip_basic']['fill_in_fast ms/frame (900x1600, 1 thread)'] > 0
    assert '## clustering' in result.stdout and '## ip_basic' in result.stdout


def test_step_and_clustering_references_need_a_cribo_checkout(tmp_path):
    result = run_tool('tools/benchmark.py', '--only', 'clustering', '--repeats', '1', '--cribo-dir', str(tmp_path),
                      check=False)
    assert result.returncode != 0
    assert 'main_cribo.py' in result.stderr and 'git clone https://github.com/tileb1/CrIBo' in result.stderr


def test_allocation_counter_gives_the_running_peak_above_the_start():
    import torch
    memory = benchmark_module('memory')
    kept = torch.zeros(1)  # allocated before: not counted

    def fn():
        a = torch.empty(2**20)  # 4 MiB
        b = torch.empty(2**21)  # 8 MiB: 12 MiB live
        del a
        c = torch.empty(2**19)  # 2 MiB: 10 MiB live
        del b
        return c

    c, peak, net = memory.allocation_peak(fn)
    assert peak == 12 * 2**20 and net == 2 * 2**20 == c.numel() * 4
    assert kept.numel() == 1
    assert memory.linear_fit([1, 2, 4], [3.0, 5.0, 9.0]) == (1.0, 2.0)


def test_a_non_finite_loss_stops_the_pretrain_benchmark_naming_the_term_and_the_step():
    import pytest
    import torch
    check = benchmark_module('pretrain_step').check_finite_losses
    check(dict(loss=torch.tensor(1.5), loss_global=torch.tensor(1.0), num_objects=torch.tensor(float('nan'))), 0)
    with pytest.raises(SystemExit) as err:
        check(dict(loss=torch.tensor(float('nan')), loss_global=torch.tensor(1.0),
                   loss_object_ci=torch.tensor(float('nan')), loss_object_cv=torch.tensor(float('inf'))), 7,
              's3pt s16')
    message = str(err.value)
    assert 'step 7 of s3pt s16' in message and 'loss_object_ci=nan' in message and 'loss_object_cv=inf' in message
    assert 'loss_global' not in message


def test_memory_section_splits_the_extrapolated_peak_and_shows_its_arithmetic(tmp_path):
    """S3PT ViT-S/16 (K = 65536, 128 clusters) measured at 1 and 2 images with a queue of 4 images (about
    half a minute): every part positive, the total their sum, the fit linear and the queue exact."""
    import math
    out = tmp_path / 'bench.json'
    result = run_tool('tools/benchmark.py', '--only', 'memory', '--memory-configs', 's3pt_s16',
                      '--memory-batches', '1', '2', '--memory-queue-images', '4', '--json', str(out))
    fig = json.loads(out.read_text())['memory']['S3PT ViT-S/16']
    parts = ('params_grads_adamw_bytes', 'queue_bytes', 'activations_bytes', 'object_tensors_bytes',
             'transient_bytes')
    for key in parts[:4] + ('activation_bytes_per_image', 'object_bytes_per_object', 'parameters_bytes',
                            'gradients_bytes', 'adamw_state_bytes', 'total_fp16_amp_estimate_bytes'):
        assert fig[key] > 0, key
    assert math.isclose(fig['total_bytes'], sum(fig[key] for key in parts), rel_tol=1e-12)
    assert fig['params_grads_adamw_bytes'] == (fig['parameters_bytes'] + fig['gradients_bytes']
                                               + fig['adamw_state_bytes'] + fig['other_buffers_bytes'])
    assert fig['adamw_state_bytes'] == 2 * fig['gradients_bytes']  # two float32 moments per student parameter
    # the queue: 2500 images x 128 objects x 384 channels, float32 features + bf16 keys per view, float32
    # inverse norms per view, int64 image counts, three scalars
    slots = 2500 * 128
    assert fig['queue_capacity_objects'] == slots
    assert fig['queue_bytes'] == 2 * slots * 384 * (4 + 2) + 2 * slots * 4 + 2500 * 8 + 4 + 8 + 8
    # extrapolation: the measured peaks less their objects lie on the fitted line; parts scale with 32
    batches = fig['batches']
    assert batches == [1, 2] and fig['target_batch'] == 32
    for b, peak, objects, less in zip(batches, fig['measured_peak_above_start_bytes'],
                                      fig['objects_per_image_measured'], fig['measured_peak_less_objects_bytes']):
        assert 0 < objects <= 128
        assert math.isclose(less, peak - b * objects * fig['object_bytes_per_object'], rel_tol=1e-9)
        assert math.isclose(less, fig['fit_intercept_bytes'] + b * fig['activation_bytes_per_image'], rel_tol=1e-9)
    assert math.isclose(fig['activations_bytes'], 32 * fig['activation_bytes_per_image'], rel_tol=1e-12)
    assert math.isclose(fig['object_tensors_bytes'], 32 * 128 * fig['object_bytes_per_object'], rel_tol=1e-12)
    assert math.isclose(fig['transient_bytes'], fig['fit_intercept_bytes'] - fig['gradients_bytes'], rel_tol=1e-9)
    # an object's (N, 65536) rows: 2 student + 4 teacher rows at least, float32
    assert fig['object_rows_per_object'] >= 6
    assert '## memory' in result.stdout and 'S3PT ViT-S/16' in result.stdout and 'fits 24 GiB' in result.stdout


def test_pipeline_profile_times_each_transform_exclusive_of_those_it_runs():
    import time

    from mmcv.transforms import BaseTransform
    pipeline = benchmark_module('pipeline')

    def spin(seconds):
        end = time.thread_time() + seconds
        while time.thread_time() < end:
            pass

    class Inner(BaseTransform):
        def transform(self, results):
            spin(0.010)
            return results

    class Outer(BaseTransform):
        """Like MultiViewWithDepth: own work, then its view pipelines."""

        def __init__(self):
            from mmcv.transforms import Compose
            self.pipelines = [Compose([Inner()]), Compose([Inner()])]

        def transform(self, results):
            spin(0.005)
            for view in self.pipelines:
                view(dict(results))
            return results

    figures = pipeline.profile_pipeline([Outer()], {}, repeats=3)
    per = figures['per_transform']
    assert list(per) == ['Outer', 'views 0: Inner', 'views 1: Inner']
    assert abs(per['Outer'] - 5) < 1.5 and all(abs(per[f'views {g}: Inner'] - 10) < 1.5 for g in (0, 1))
    assert abs(figures['total'] - sum(per.values())) < 2


def test_pipeline_section_prints_the_before_and_after_tables_for_a_users_frame(tmp_path):
    import cv2
    import numpy as np
    rng = np.random.default_rng(0)
    cv2.imwrite(str(tmp_path / 'cam.jpg'), rng.integers(0, 255, (450, 800, 3)).astype(np.uint8))
    depth = rng.integers(1, 20000, (225, 400)).astype(np.uint16)
    cv2.imwrite(str(tmp_path / 'depth.png'), depth)
    out = tmp_path / 'figures.json'
    result = run_tool('tools/benchmark.py', '--only', 'pipeline', '--repeats', '1', '--pipeline-frame',
                      str(tmp_path / 'cam.jpg'), str(tmp_path / 'depth.png'), '--gpu-images-per-s', '1000',
                      '--render-batch-size', '2', '--device', 'cpu', '--json', str(out))
    figures = json.loads(out.read_text())['pipeline']
    for method in ('S3PT ViT-S/16', 'CrIBo ViT-S/16', 'DINO ViT-S/16'):
        assert f'{method}: CPU ms per image, per transform' in result.stdout
        for run in ('before (generic transforms)', 'after', 'after, --image-scale 0.5',
                    'views rendered on the device (worker part)'):
            ms = figures[f'{method} | {run} | CPU ms/image']
            assert abs(figures[f'{method} | {run} | worker cores per GPU at 1000 images/s'] - ms) < 1e-9
            assert abs(figures[f'{method} | {run} | images/s per worker core'] - 1000 / ms) < 1e-9
        # the workers decode nothing when the device renders the views
        assert figures[f'{method} | views rendered on the device (worker part) | CPU ms/image'] < \
            figures[f'{method} | after | CPU ms/image']
        render = {key.rsplit(' | ', 1)[1]: value for key, value in figures.items()
                  if key.startswith(f'{method} | rendering on the device (CPU')}
        assert abs(render['images/s'] - 2000 / render['ms per batch of 2']) < 1e-6
    assert '| LoadDepthFromFile |' in result.stdout and '| views 2: RandomResizedCropWithDepth (96x96) |' in result.stdout
    bad = run_tool('tools/benchmark.py', '--only', 'pipeline', '--pipeline-frame', 'a', 'b', 'c', check=False)
    assert bad.returncode != 0 and 'an image and optionally its depth PNG' in bad.stderr
