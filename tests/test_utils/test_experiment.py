"""s3pt_mm.utils.experiment: the seed aggregation (mean ± sample std) and its table, CSV and chart."""
import math

import cv2

from s3pt_mm.utils.experiment import aggregate, mean_std, seed_chart, seed_csv, seed_table


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
