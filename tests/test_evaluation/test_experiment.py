"""s3pt_mm.evaluation.experiment: the seed aggregation (mean ± sample std) and its table, CSV and chart; the
per-seed differences to the floor; the token-probe table; the teachers' final statistics."""
import json
import math

import cv2

from s3pt_mm.evaluation.experiment import (aggregate, difference_table, final_teacher_statistics, mean_std,
                                           paired_differences, seed_chart, seed_csv, seed_table, teacher_table,
                                           token_table)


def test_mean_std_is_the_sample_statistic_and_skips_nan():
    mean, std = mean_std([12.0, 14.0, 19.0])
    assert mean == 15.0
    assert math.isclose(std, math.sqrt(((12 - 15) ** 2 + (14 - 15) ** 2 + (19 - 15) ** 2) / 2))  # sqrt(13)
    assert mean_std([3.0, math.nan, 5.0]) == (4.0, math.sqrt(2.0))
    one = mean_std([7.5])
    assert one[0] == 7.5 and math.isnan(one[1])
    assert all(math.isnan(v) for v in mean_std([math.nan]))


def test_aggregate_table_csv_and_chart(tmp_path):
    probes = [(10.0, {'car': 20.0, 'bus': math.nan}), (12.0, {'car': 26.0, 'bus': 4.0})]
    summary = aggregate([('random init', probes), ('S3PT', [(15.0, {'car': 30.0, 'bus': 1.0})])])
    floor, s3pt = summary
    assert floor['n'] == 2 and floor['runs'] == [10.0, 12.0]
    assert floor['mIoU'] == (11.0, math.sqrt(2.0))
    assert floor['per_class']['car'] == (23.0, math.sqrt(18.0))
    assert floor['per_class']['bus'][0] == 4.0 and math.isnan(floor['per_class']['bus'][1])
    table = seed_table(summary).splitlines()
    assert table[0] == '| backbone | seeds | mIoU | car | bus |'
    assert table[2] == '| random init | 2 | 11.00 ± 1.41 | 23.0 ± 4.2 | 4.0 |'
    assert table[3] == '| S3PT | 1 | 15.00 | 30.0 | 1.0 |'
    csv = seed_csv(summary).splitlines()
    assert csv[0] == 'backbone,seeds,mIoU_mean,mIoU_std,car_mean,car_std,bus_mean,bus_std'
    assert csv[1] == '"random init",2,11.0000,1.4142,23.0000,4.2426,4.0000,'
    seed_chart(summary, str(tmp_path / 'chart.png'), 'test')
    picture = cv2.imread(str(tmp_path / 'chart.png'))
    assert picture is not None and picture.std() > 10


def test_paired_differences_subtract_the_floor_of_the_same_seed():
    summary = aggregate([('random init', [(10.0, {}), (12.0, {}), (11.0, {})]),
                         ('CrIBo', [(10.5, {}), (12.9, {}), (11.1, {})]),
                         ('S3PT', [(9.0, {}), (13.0, {}), (11.0, {})])])
    cribo, s3pt = paired_differences(summary)
    assert cribo['name'] == 'CrIBo' and s3pt['name'] == 'S3PT'
    assert [round(v, 6) for v in cribo['runs']] == [0.5, 0.9, 0.1]
    assert math.isclose(cribo['diff'][0], 0.5) and math.isclose(cribo['diff'][1], 0.4)  # sqrt((.16+.16+0)/2)
    assert s3pt['runs'] == [-1.0, 1.0, 0.0] and s3pt['diff'] == (0.0, 1.0)
    table = difference_table([cribo, s3pt]).splitlines()
    assert table[0] == '| backbone | mIoU - random init, per seed | mean ± std |'
    assert table[2] == '| CrIBo | +0.50 / +0.90 / +0.10 | 0.50 ± 0.40 |'
    assert table[3] == '| S3PT | -1.00 / +1.00 / +0.00 | 0.00 ± 1.00 |'
    assert paired_differences(aggregate([('CrIBo', [(10.5, {})])])) == []  # no floor, no differences


def test_the_mean_over_the_val_classes_has_the_same_terms_in_every_row():
    """Two seeds; the val labels hold background and car. Seed 0's floor probe predicted ego-vehicle pixels
    (0 in mmseg's mIoU), S3PT's did not (NaN, left out)."""
    floor = [(10.0, {'background': 20.0, 'car': 10.0, 'ego vehicle': 0.0}),
             (12.0, {'background': 24.0, 'car': 0.0, 'ego vehicle': math.nan})]
    s3pt = [(15.0, {'background': 30.0, 'car': 0.0, 'ego vehicle': math.nan}),
            (14.0, {'background': 28.0, 'car': 2.0, 'ego vehicle': 0.0})]
    summary = aggregate([('random init', floor), ('S3PT', s3pt)], present=['background', 'car'])
    assert summary[0]['runs_present'] == [15.0, 12.0] and summary[1]['runs_present'] == [15.0, 15.0]
    assert summary[0]['mIoU_present'] == (13.5, math.sqrt(4.5))
    table = seed_table(summary, ['background', 'car']).splitlines()
    assert table[0] == '| backbone | seeds | mIoU | mIoU (2 val classes) | background | car | ego vehicle |'
    assert table[2] == '| random init | 2 | 11.00 ± 1.41 | 13.50 ± 2.12 | 22.0 ± 2.8 | 5.0 ± 7.1 | 0.0 |'
    (diff,) = paired_differences(summary, key='runs_present')
    assert diff['runs'] == [0.0, 3.0] and diff['diff'] == (1.5, math.sqrt(4.5))
    header = seed_csv(summary).splitlines()[0]
    assert header.startswith('backbone,seeds,mIoU_mean,mIoU_std,mIoU_present_mean,mIoU_present_std,background_mean')


def test_token_table_is_mean_and_std_over_seeds():
    def scores(acc_knn, miou_knn, acc_lr, miou_lr, acc_pos, miou_pos):
        return {'k-NN': dict(accuracy=acc_knn, miou=miou_knn), 'logistic': dict(accuracy=acc_lr, miou=miou_lr),
                'logistic + position': dict(accuracy=acc_pos, miou=miou_pos)}
    per_seed = [dict(tokens=dict(random=scores(60.0, 10.0, 62.0, 11.0, 70.0, 14.0),
                                 cribo=scores(70.0, 14.0, 71.0, 15.0, 72.0, 15.0))),
                dict(tokens=dict(random=scores(64.0, 12.0, 62.0, 13.0, 72.0, 16.0),
                                 cribo=scores(70.0, 16.0, 75.0, 15.0, 72.0, 17.0)))]
    table = token_table(['random', 'cribo'], per_seed).splitlines()
    assert table[0] == ('| backbone | seeds | k-NN token acc | k-NN token mIoU | logistic token acc | '
                        'logistic token mIoU | logistic + position token acc | logistic + position token mIoU |')
    assert table[2] == ('| random init | 2 | 62.00 ± 2.83 | 11.00 ± 1.41 | 62.00 ± 0.00 | 12.00 ± 1.41 | '
                        '71.00 ± 1.41 | 15.00 ± 1.41 |')
    assert table[3] == ('| CrIBo | 2 | 70.00 ± 0.00 | 15.00 ± 1.41 | 73.00 ± 2.83 | 15.00 ± 0.00 | '
                        '72.00 ± 0.00 | 16.00 ± 1.41 |')


def test_final_teacher_statistics_take_the_last_check_over_resumed_runs(tmp_path):
    def log(folder, records):
        path = tmp_path / folder / 'vis_data'
        path.mkdir(parents=True)
        (path / 'scalars.json').write_text(''.join(json.dumps(r) + '\n' for r in records))

    log('20260101_000000', [{'train/collapse/global_entropy': 5.0, 'step': 100},
                            {'train/collapse/global_entropy': 4.0, 'train/collapse/global_kl_to_mean': 1.0,
                             'step': 200},
                            {'loss': 3.0, 'step': 210}])
    log('20260101_010000', [{'train/collapse/global_entropy': 3.5, 'step': 300},  # resumed at step 200
                            {'train/collapse/object_prototypes_in_use': 21.0, 'step': 300}])
    assert final_teacher_statistics(str(tmp_path)) == dict(global_entropy=3.5, global_kl_to_mean=1.0,
                                                           object_prototypes_in_use=21.0)
    assert final_teacher_statistics(str(tmp_path / 'nothing')) == {}

    per_seed = [dict(teacher=dict(dino=dict(global_entropy=3.0, global_kl_to_mean=2.0, global_prototypes_in_use=10),
                                  s3pt=dict(global_entropy=7.0, object_entropy=6.0))),
                dict(teacher=dict(dino=dict(global_entropy=4.0, global_kl_to_mean=2.0, global_prototypes_in_use=14),
                                  s3pt={}))]
    table = teacher_table(['random', 'dino', 's3pt'], per_seed).splitlines()
    assert table[0] == ('| teacher | seeds | global entropy | global KL to batch mean | global prototypes in use | '
                        'object entropy | object KL to batch mean | object prototypes in use |')
    assert table[2] == '| DINO | 2 | 3.50 ± 0.71 | 2.00 ± 0.00 | 12.00 ± 2.83 | - | - | - |'
    assert table[3] == '| S3PT | 1 | 7.00 | - | - | 6.00 | - | - |'
    assert len(table) == 4  # no row for the floor, which has no teacher
