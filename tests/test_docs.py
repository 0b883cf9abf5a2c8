"""The docs cannot go stale silently: every fenced shell command of README.md and docs/*.md names tools
and configs that exist, gives each ``tools/*.py`` script only options its argparse parser has, and
overrides with ``--cfg-options`` only keys that the config it names holds.

The checker is plain functions (:func:`shell_commands`, :func:`check_command`); the last tests feed it
fabricated commands to show that it does flag a missing tool, option or config key. Placeholders (``CONFIG``,
``<run>``, ``$VAR`` without an assignment in the same block) are not checked. Each tool's parser is taken by
running the tool's ``main`` with ``ArgumentParser.parse_args`` stopped at its first call, so nothing of a
tool runs; the tools are imported once per test session.
"""
import argparse
import glob
import importlib.util
import os.path as osp
import re
import shlex
from typing import Dict, List, Optional, Set

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DOCS = ['README.md'] + sorted(osp.relpath(p, ROOT) for p in glob.glob(osp.join(ROOT, 'docs', '*.md')))

FENCE = re.compile(r'^(?P<indent> *)```(?:bash|sh|shell)[ \t]*\n(?P<body>.*?)^(?P=indent)```[ \t]*$',
                   re.MULTILINE | re.DOTALL)
TOOL_PATH = re.compile(r'(?:\./)?(tools/[\w./-]+\.(?:py|sh))')
CONFIG_PATH = re.compile(r'(?:\./)?(configs/[\w./-]+\.py)')
ASSIGNMENT = re.compile(r'^(?P<name>[A-Za-z_][A-Za-z0-9_]*)=(?P<value>.*)$')
VARIABLE = re.compile(r'\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)\}|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))')
SEPARATORS = {'&&', '||', ';', '|'}
#: shell wrappers -> the Python tool that receives their extra arguments (None: no tool options)
WRAPPERS = {'tools/dist_train.sh': 'tools/train.py', 'tools/slurm_train.sh': 'tools/train.py',
            'tools/dist_test.sh': 'tools/test.py', 'tools/demo.sh': 'tools/demo.py',
            'tools/run_tests.sh': None, 'tools/setup_env.sh': None}
#: --cfg-options keys that add an argument the config leaves at its default, with the reason
NEW_KEYS = {
    'test_evaluator.jsonfile_prefix': "NuScenesMetric's argument (default None): keep results_nusc.json",
    'randomness.seed': "the Runner's seed (Runner.from_cfg reads cfg.randomness; mmseg's runtime leaves it out)",
}


def shell_commands(markdown: str) -> List[List[str]]:
    """The commands of the fenced ``bash``/``sh``/``shell`` blocks of a markdown text, one token list
    each: continuation lines joined, comments dropped, ``&&``/``;``/``|`` split, variables assigned in
    the same block (``C=configs/...``) substituted. A line shlex cannot split is returned as
    ``['<unparsable>', line]``."""
    commands = []
    for block in FENCE.finditer(markdown):
        text = re.sub(r'\\\n', ' ', block.group('body'))
        variables: Dict[str, str] = {}
        for line in text.splitlines():
            try:
                tokens = shlex.split(line, comments=True)
            except ValueError:
                commands.append(['<unparsable>', line.strip()])
                continue
            current: List[str] = []
            for token in tokens + [';']:
                if token not in SEPARATORS:
                    current.append(token)
                    continue
                if current and all(ASSIGNMENT.match(t) for t in current):
                    for t in current:  # NAME=value alone: a shell variable of this block
                        match = ASSIGNMENT.match(t)
                        variables[match.group('name')] = match.group('value')
                elif current:
                    commands.append([_substitute(t, variables) for t in current])
                current = []
    return commands


def _substitute(token: str, variables: Dict[str, str]) -> str:
    return VARIABLE.sub(lambda m: variables.get(m.group('braced') or m.group('plain'), m.group(0)), token)


class _ParserFound(Exception):
    def __init__(self, parser):
        super().__init__()
        self.parser = parser


_OPTIONS: Dict[str, Set[str]] = {}


def tool_options(tool: str) -> Set[str]:
    """Every option string of the argparse parser of ``tool`` (a ``tools/*.py`` path), subcommands'
    included: its ``main`` is run until it first calls ``parse_args``/``parse_known_args``."""
    if tool not in _OPTIONS:
        spec = importlib.util.spec_from_file_location('_docs_' + re.sub(r'\W', '_', tool), osp.join(ROOT, tool))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)

        def stop(self, *args, **kwargs):
            raise _ParserFound(self)

        patch = pytest.MonkeyPatch()
        patch.setattr(argparse.ArgumentParser, 'parse_args', stop)
        patch.setattr(argparse.ArgumentParser, 'parse_known_args', stop)
        try:
            module.main([])
        except _ParserFound as found:
            parser = found.parser
        else:
            raise AssertionError(f'{tool}: main() returned without parsing its arguments')
        finally:
            patch.undo()
        _OPTIONS[tool] = _option_strings(parser)
    return _OPTIONS[tool]


def _option_strings(parser: argparse.ArgumentParser) -> Set[str]:
    options = set()
    for action in parser._actions:
        options.update(s for s in action.option_strings if s.startswith('--'))
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                options |= _option_strings(sub)
    return options


_CONFIGS: Dict[str, object] = {}


def config_has_key(config: str, key: str) -> bool:
    """Whether the dotted ``key`` (list items by index, ``param_scheduler.1.end``) exists in ``config``
    as mmengine loads it (bases merged)."""
    if config not in _CONFIGS:
        from mmengine.config import Config
        _CONFIGS[config] = Config.fromfile(osp.join(ROOT, config))
    node = _CONFIGS[config]
    for part in key.split('.'):
        if isinstance(node, (list, tuple)) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif hasattr(node, 'keys') and part in node:
            node = node[part]
        else:
            return False
    return True


def check_command(tokens: List[str], options_of=tool_options, has_key=config_has_key) -> List[str]:
    """The problems of one command: named tools or configs that do not exist, options a ``tools/*.py``
    script (or the script a wrapper passes them to) does not define, ``--cfg-options`` keys the command's
    config does not hold."""
    if tokens[0] == '<unparsable>':
        return [f'cannot split the line: {tokens[1]}']
    tokens = [t.strip('[]') for t in tokens]
    problems = []
    for token in tokens:
        for part in token.split('='):
            for pattern in (TOOL_PATH, CONFIG_PATH):
                match = pattern.fullmatch(part)
                if match and not osp.isfile(osp.join(ROOT, match.group(1))):
                    problems.append(f'{match.group(1)} does not exist')
    scripts = [i for i, t in enumerate(tokens) if TOOL_PATH.fullmatch(t)]
    if not scripts:
        return problems
    start = scripts[0]
    script = TOOL_PATH.fullmatch(tokens[start]).group(1)
    tool = WRAPPERS.get(script, script) if script.endswith('.sh') else script
    if tool is None or not osp.isfile(osp.join(ROOT, tool)):
        return problems
    arguments = tokens[start + 1:]
    known = options_of(tool)
    for token in arguments:
        if token.startswith('--') and token.split('=')[0] not in known:
            problems.append(f'{tool} has no option {token.split("=")[0]}')
    config = next((CONFIG_PATH.fullmatch(t).group(1) for t in arguments if CONFIG_PATH.fullmatch(t)), None)
    if '--cfg-options' in arguments and config is not None and osp.isfile(osp.join(ROOT, config)):
        for token in arguments[arguments.index('--cfg-options') + 1:]:
            if token.startswith('--'):
                break
            key = token.split('=')[0]
            if '=' in token and key not in NEW_KEYS and not has_key(config, key):
                problems.append(f'{config} has no key {key}')
    return problems


@pytest.mark.parametrize('doc', DOCS)
def test_every_command_of_the_docs_names_existing_tools_options_and_config_keys(doc):
    with open(osp.join(ROOT, doc), encoding='utf-8') as f:
        commands = shell_commands(f.read())
    problems = [f'{doc}: `{" ".join(tokens)}`: {problem}'
                for tokens in commands for problem in check_command(tokens)]
    assert not problems, '\n'.join(problems)


@pytest.mark.parametrize('doc', DOCS)
def test_every_relative_link_of_the_docs_points_to_a_file(doc):
    with open(osp.join(ROOT, doc), encoding='utf-8') as f:
        targets = re.findall(r'\]\(([^)\s]+)\)', f.read())
    missing = [t for t in targets if not re.match(r'[a-z]+:', t) and not t.startswith('#')
               and not osp.exists(osp.join(ROOT, osp.dirname(doc), t.split('#')[0]))]
    assert not missing, f'{doc}: links to missing files: {missing}'


def test_the_docs_have_commands_to_check():
    with open(osp.join(ROOT, 'README.md'), encoding='utf-8') as f:
        commands = shell_commands(f.read())
    assert sum(1 for tokens in commands if any(TOOL_PATH.fullmatch(t) for t in tokens)) >= 10


def test_commands_are_joined_split_and_substituted():
    markdown = ('text\n```bash\nC=configs/pretrain/x.py  # a comment\n.venv/bin/python tools/train.py $C \\\n'
                '    --resume && bash tools/dist_train.sh ${C} 8\n```\n```\nnot a shell block\n```\n'
                '  ```sh\n  tools/demo.sh --seeds 0\n  ```\n')
    assert shell_commands(markdown) == [
        ['.venv/bin/python', 'tools/train.py', 'configs/pretrain/x.py', '--resume'],
        ['bash', 'tools/dist_train.sh', 'configs/pretrain/x.py', '8'],
        ['tools/demo.sh', '--seeds', '0'],
    ]


# the checker against fabricated commands (options and keys from fakes: no tool is imported here)
TRAIN = '.venv/bin/python tools/train.py configs/pretrain/s3pt_vit-s16_8xb32-500e_nuscenes.py'


def _check(command: str, keys=('train_dataloader.batch_size',)) -> List[str]:
    return check_command(shlex.split(command), options_of=lambda tool: {'--resume', '--cfg-options'},
                         has_key=lambda config, key: key in keys)


def test_the_checker_passes_a_correct_command():
    assert _check(TRAIN + ' --resume --cfg-options train_dataloader.batch_size=16') == []


def test_the_checker_flags_a_missing_option():
    assert _check(TRAIN + ' --no-such-option 3') == ['tools/train.py has no option --no-such-option']


def test_the_checker_flags_a_missing_tool_and_config():
    assert _check('.venv/bin/python tools/no_such_tool.py configs/pretrain/no_such_config.py') == [
        'tools/no_such_tool.py does not exist', 'configs/pretrain/no_such_config.py does not exist']


def test_the_checker_flags_a_missing_config_key():
    assert _check(TRAIN + ' --cfg-options train_dataloader.batchsize=16 train_dataloader.batch_size=16') == [
        'configs/pretrain/s3pt_vit-s16_8xb32-500e_nuscenes.py has no key train_dataloader.batchsize']


def test_a_wrapper_passes_its_options_to_the_tool():
    assert _check('bash tools/dist_train.sh configs/pretrain/s3pt_vit-s16_8xb32-500e_nuscenes.py 8 --amp') == [
        'tools/train.py has no option --amp']


def test_the_real_parser_and_config_are_read():
    assert {'--resume', '--auto-scale-lr', '--cfg-options', '--work-dir'} <= tool_options('tools/train.py')
    assert {'--checkpoint', '--data-root', '--model'} <= tool_options('tools/visualize.py')  # subcommands
    config = 'configs/pretrain/s3pt_vit-s16_8xb32-500e_nuscenes.py'
    assert config_has_key(config, 'param_scheduler.1.eta_min')
    assert not config_has_key(config, 'param_scheduler.9.eta_min')
    assert not config_has_key(config, 'train_dataloader.batchsize')
