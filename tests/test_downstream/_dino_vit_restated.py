"""DINO's ViT (``vision_transformer.py`` of facebookresearch/dino, ``vit_small`` / ``vit_base``) restated for
the tests: DINO is not a package (its hub entry downloads weights), so it cannot be imported here.

What is restated, from reading DINO's file: the module names (hence the state dict keys of DINO's hub
files: ``cls_token``, ``pos_embed``, ``patch_embed.proj``, ``blocks.{i}.norm1 / attn.qkv / attn.proj /
norm2 / mlp.fc1 / mlp.fc2``, ``norm``; ``head`` is an Identity without weights), LayerNorm with
eps = 1e-6 (``partial(nn.LayerNorm, eps=1e-6)`` in ``vit_small`` / ``vit_base``), q, k, v from one
linear layer with bias, split as ``reshape(B, N, 3, heads, C / heads)``, attention computed explicitly as
``softmax(q k^T * head_dim ** -0.5) v`` (not a fused kernel), exact GELU in the MLP (4C hidden),
pre-norm residual blocks, the final norm over all tokens (``get_intermediate_layers``). Left out: dropout
and drop path (zero at evaluation), the position-embedding interpolation for other grids (the tests use
DINO's 224 x 224 grid) and the initialisation (the tests set every weight).

This is the block structure of timm's ViT, of which DINO's file is a restatement; the difference from
timm's code is the attention (explicit here, ``F.scaled_dot_product_attention`` in timm), so outputs agree
to float32 rounding.
"""
import torch
import torch.nn as nn


class _Attention(nn.Module):

    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        weights = (q @ k.transpose(-2, -1) * (c // self.heads) ** -0.5).softmax(dim=-1)
        return self.proj((weights @ v).transpose(1, 2).reshape(b, n, c))


class _Mlp(nn.Module):

    def __init__(self, dim):
        super().__init__()
        self.fc1 = nn.Linear(dim, 4 * dim)
        self.fc2 = nn.Linear(4 * dim, dim)

    def forward(self, x):
        return self.fc2(nn.functional.gelu(self.fc1(x)))


class _Block(nn.Module):

    def __init__(self, dim, heads):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = _Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = _Mlp(dim)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class _PatchEmbed(nn.Module):

    def __init__(self, dim, patch):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, kernel_size=patch, stride=patch)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class DinoViT(nn.Module):
    """DINO's ``VisionTransformer`` for 224 x 224 inputs; :meth:`forward` returns all tokens after the
    final norm, (B, 1 + N, C)."""

    def __init__(self, dim, depth, heads, patch=16, img_size=224):
        super().__init__()
        self.patch_embed = _PatchEmbed(dim, patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, (img_size // patch) ** 2 + 1, dim))
        self.blocks = nn.ModuleList(_Block(dim, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Identity()

    def forward(self, x):
        x = self.patch_embed(x)
        assert x.shape[1] + 1 == self.pos_embed.shape[1], 'restated for the pre-training grid only'
        x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1) + self.pos_embed
        for block in self.blocks:
            x = block(x)
        return self.norm(x)


def vit_small(**kwargs):
    return DinoViT(dim=384, depth=12, heads=6, **kwargs)


def vit_base(**kwargs):
    return DinoViT(dim=768, depth=12, heads=12, **kwargs)
