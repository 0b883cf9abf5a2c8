"""tools/benchmark.py as a user runs it: the sections that need no reference code print their figures and
write them as JSON (speed itself is never asserted: it lives in the benchmark's output)."""
import json

from tests.helpers import run_tool


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
