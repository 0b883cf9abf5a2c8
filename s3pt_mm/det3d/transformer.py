"""PETR's transformer decoder: DETR decoder layers (post-norm) over the position-aware image features.

Each layer: self-attention among the queries, cross-attention from the queries to the multi-view
feature tokens, feed-forward network; a residual connection and LayerNorm after each (post-norm).
Positions enter as additive embeddings of the attention queries and keys (``query_pos``: the embedded
3D reference points, ``key_pos``: the 3D position embedding of the features), never of the values.
The output of every layer goes through a shared final LayerNorm and is returned (deep supervision).
"""
import torch
from mmengine.model import BaseModule, xavier_init
from torch import nn

from mmdet3d.registry import MODELS

__all__ = ['PETRDecoderLayer', 'PETRTransformerDecoder']


class PETRDecoderLayer(nn.Module):
    """One post-norm decoder layer (tensors batch first, shapes in :class:`PETRTransformerDecoder`)."""

    def __init__(self, embed_dims, num_heads, feedforward_channels, dropout):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(embed_dims, num_heads, dropout=dropout, batch_first=True)
        self.cross_attn = nn.MultiheadAttention(embed_dims, num_heads, dropout=dropout, batch_first=True)
        self.ffn = nn.Sequential(
            nn.Linear(embed_dims, feedforward_channels), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(feedforward_channels, embed_dims))
        self.norms = nn.ModuleList(nn.LayerNorm(embed_dims) for _ in range(3))
        self.dropouts = nn.ModuleList(nn.Dropout(dropout) for _ in range(3))

    def forward(self, query, query_pos, memory, key_pos, key_padding_mask):
        q = query + query_pos
        query = self.norms[0](query + self.dropouts[0](self.self_attn(q, q, query, need_weights=False)[0]))
        attended = self.cross_attn(query + query_pos, memory + key_pos, memory, key_padding_mask=key_padding_mask,
                                   need_weights=False)[0]
        query = self.norms[1](query + self.dropouts[1](attended))
        return self.norms[2](query + self.dropouts[2](self.ffn(query)))


@MODELS.register_module()
class PETRTransformerDecoder(BaseModule):
    """Stack of :class:`PETRDecoderLayer` returning every layer's normalised output.

    Args:
        num_layers (int): decoder layers (6 in PETR).
        embed_dims (int): query / token channels.
        num_heads (int): attention heads (8).
        feedforward_channels (int): hidden channels of the feed-forward network (2048).
        dropout (float): dropout of attention weights and residual branches (0.1).
    """

    def __init__(self, num_layers=6, embed_dims=256, num_heads=8, feedforward_channels=2048, dropout=0.1,
                 init_cfg=None):
        super().__init__(init_cfg)
        self.embed_dims = embed_dims
        self.layers = nn.ModuleList(
            PETRDecoderLayer(embed_dims, num_heads, feedforward_channels, dropout) for _ in range(num_layers))
        self.post_norm = nn.LayerNorm(embed_dims)

    def init_weights(self):
        """As mmdetection3d's PETR (DETR's init): every linear layer (attention output projections and the
        feed-forward network) Xavier-uniform with zero bias; the attention input projections Xavier-uniform
        with zero bias (PyTorch's own init of ``nn.MultiheadAttention``); LayerNorms at one and zero."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                xavier_init(module, distribution='uniform')
            elif isinstance(module, nn.MultiheadAttention):
                nn.init.xavier_uniform_(module.in_proj_weight)
                nn.init.zeros_(module.in_proj_bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, query_pos, memory, key_pos, key_padding_mask=None):
        """Decode the queries (their content starts at zero).

        Args:
            query_pos (Tensor): (B, Q, C) query position embeddings.
            memory (Tensor): (B, L, C) feature tokens of all views (L = N h w).
            key_pos (Tensor): (B, L, C) their position embeddings.
            key_padding_mask (Tensor, optional): (B, L) bool, True for padding tokens (ignored).

        Returns:
            Tensor: (num_layers, B, Q, C) the output of every layer after the final LayerNorm.
        """
        query = torch.zeros_like(query_pos)
        outputs = []
        for layer in self.layers:
            query = layer(query, query_pos, memory, key_pos, key_padding_mask)
            outputs.append(self.post_norm(query))
        return torch.stack(outputs)
