"""The official CrIBo code (tileb1/CrIBo), run from a snapshot the user provides, next to ours.

Nothing of CrIBo is stored in this project. ``CRIBO_DIR`` (or ``--cribo-dir``) is a directory holding a
CrIBo checkout (``main_cribo.py``, ``cribo_utils/``, ``source/``), e.g.::

    git clone https://github.com/tileb1/CrIBo /tmp/cribo

The functions and classes the benchmarks need (``train_one_epoch``, ``get_nn_centroids``, ``all_gather``,
``CrIBoLoss``, ``Clustering``) are taken from ``main_cribo.py`` with :mod:`ast` (its module level starts
training and needs a GPU) and executed with CPU stand-ins for device plumbing only, no computation removed:
``x.cuda(...)`` -> ``x``, ``torch.cuda.synchronize()`` -> nothing, ``device='cuda'`` -> the benchmark's
device, ``args.gpu`` -> that device, and on one process ``torch.distributed`` -> a world-size-1 stand-in
(all_reduce: identity, all_gather: copy into the single slot) and ``DistributedDataParallel`` -> a holder
exposing ``.module`` (DDP of one process adds only gradient-bucket hooks).
"""
import ast
import math
import os
import os.path as osp
import sys
import types

MAIN_NAMES = ('all_gather', 'get_nn_centroids', 'train_one_epoch', 'CrIBoLoss', 'Clustering')


def cribo_dir_or_exit(path=None):
    """``path`` or ``$CRIBO_DIR``, checked to hold a CrIBo checkout; SystemExit with the fix otherwise."""
    path = path or os.environ.get('CRIBO_DIR')
    if not path or not osp.isfile(osp.join(path, 'main_cribo.py')):
        raise SystemExit('the reference needs a CrIBo checkout: pass --cribo-dir DIR or set CRIBO_DIR to a '
                         'directory holding main_cribo.py, cribo_utils/ and source/ '
                         '(git clone https://github.com/tileb1/CrIBo DIR)')
    return path


class _World1Dist:
    """torch.distributed for one process (world size 1): the collectives are identities."""

    @staticmethod
    def all_reduce(tensor, *args, **kwargs):
        return None

    @staticmethod
    def all_gather(out, tensor, *args, **kwargs):
        out[0].copy_(tensor)

    @staticmethod
    def get_world_size(*args, **kwargs):
        return 1

    @staticmethod
    def barrier(*args, **kwargs):
        return None


class _OnDevice(ast.NodeTransformer):
    """``x.cuda()`` -> ``x``; ``torch.cuda.synchronize()`` -> ``None``; ``device='cuda'`` -> ``device``."""

    def __init__(self, device):
        self.device = device

    def visit_Call(self, node):
        self.generic_visit(node)
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == 'cuda' and not node.args and \
                all(k.arg == 'non_blocking' for k in node.keywords) and self.device == 'cpu':
            return func.value
        if isinstance(func, ast.Attribute) and func.attr == 'synchronize' and \
                ast.unparse(func.value) == 'torch.cuda' and self.device == 'cpu':
            return ast.Constant(None)
        for keyword in node.keywords:
            if keyword.arg == 'device' and isinstance(keyword.value, ast.Constant) and keyword.value.value == 'cuda':
                keyword.value = ast.Constant(self.device)
        return node


def load_cribo(cribo_dir, device='cpu'):
    """(namespace of the MAIN_NAMES taken from main_cribo.py, CrIBo's argument parser function)."""
    import einops
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from einops import rearrange, reduce, repeat
    sys.path.insert(0, cribo_dir)
    from cribo_utils.hpc import pin_workers_iterator
    from cribo_utils.parser import get_args_parser
    from source.utils import utils

    with open(osp.join(cribo_dir, 'main_cribo.py')) as f:
        tree = ast.parse(f.read())
    nodes = [node for node in tree.body if getattr(node, 'name', None) in MAIN_NAMES]
    missing = set(MAIN_NAMES) - {node.name for node in nodes}
    if missing:
        raise SystemExit(f'{cribo_dir}/main_cribo.py has no {sorted(missing)}: not a CrIBo checkout this '
                         'benchmark knows')
    module = ast.fix_missing_locations(_OnDevice(device).visit(ast.Module(nodes, [])))
    namespace = dict(torch=torch, nn=nn, F=F, np=np, math=math, sys=sys, einops=einops, rearrange=rearrange,
                     reduce=reduce, repeat=repeat, utils=utils, pin_workers_iterator=pin_workers_iterator,
                     dist=_World1Dist if device == 'cpu' else torch.distributed, __name__='cribo_main')
    exec(compile(module, osp.join(cribo_dir, 'main_cribo.py'), 'exec'), namespace)
    return types.SimpleNamespace(**{name: namespace[name] for name in MAIN_NAMES}), get_args_parser


def cribo_args(get_args_parser, device='cpu', **overrides):
    """CrIBo's default arguments (32 clusters, 5 Sinkhorn iterations, 5 rounds, 65536 x 2 prototypes, ...)
    with ``overrides`` and the device."""
    args = get_args_parser().parse_args([])
    args.gpu, args.world_size, args.rank = device, 1, 0
    for key, value in overrides.items():
        setattr(args, key, value)
    return args


def reference_clustering(cribo_dir, num_clusters, sinkhorn_iterations, device='cpu'):
    """A function ``(tokens (B, N, C), positions (B, N, 2)) -> assignment`` running CrIBo's
    ``Clustering.compute_assignments`` with its default positional weight, lambda and rounds."""
    cribo, get_args_parser = load_cribo(cribo_dir, device)
    args = cribo_args(get_args_parser, device, patch_size=16, epochs=100)
    clustering = cribo.Clustering(args, n_tokens=num_clusters, n_heads=1, sinkhorn_lambda=args.sinkhorn_lambda,
                                  sinkhorn_iterations=sinkhorn_iterations, student_temp=args.student_temp,
                                  pos_alpha=args.pos_alpha)

    def run(tokens, positions):
        return clustering.compute_assignments(tokens, positions, num_clusters, args.pos_alpha[0],
                                              args.sinkhorn_lambda, sinkhorn_iterations)[0]

    return run
