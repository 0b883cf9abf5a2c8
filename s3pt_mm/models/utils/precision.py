"""Where mixed precision stops: the quantities of pre-training that are computed in float32 with autocast
switched off (``docs/mixed_precision.md`` lists each one and why). Pure torch.

Under ``torch.autocast`` (fp16 or bf16, CUDA and CPU alike) every matrix product, ``einsum`` and
``vecdot`` runs in half precision, whatever the dtype of its inputs. That is right for the network and the
prototype products, and wrong for a few small statistics whose values leave half precision's range or need
more than its 11 (fp16) or 8 (bf16) bits: e.g. the weight ``1 / <P, c>`` of the probability centre is
``K = 65536`` at initialisation, above fp16's largest value 65504. Those run in :func:`float32_region`.
"""
import contextlib
import functools

import torch

__all__ = ['float32_region', 'in_float32']


@contextlib.contextmanager
def float32_region():
    """Autocast off on every device type that has it here (CPU and CUDA): inside, each op runs in the dtype
    of its inputs; the caller casts them to float32."""
    with torch.autocast('cpu', enabled=False), torch.autocast('cuda', enabled=False):
        yield


def in_float32(fn):
    """Decorator: ``fn`` runs in :func:`float32_region`."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with float32_region():
            return fn(*args, **kwargs)

    return wrapper
