"""Multi-head attention (notebook 03): several attentions side by side, each on a slice of features.

Shapes: d_model = num_heads * d_head.
    split_heads: (batch, seq, d_model) -> (batch, num_heads, seq, d_head)
    merge_heads: (batch, num_heads, seq, d_head) -> (batch, seq, d_model)
Masks follow notebook 02 (boolean, True = may attend) and broadcast to
(batch, num_heads, num_queries, num_keys); a 3-D mask (batch, num_queries or 1, num_keys) gets the
head axis added.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from .attention import AttentionSeq2SeqGRU, scaled_dot_product_attention


def split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """(batch, seq, d_model) -> (batch, num_heads, seq, d_head): head h gets features
    h * d_head ... (h + 1) * d_head - 1 of every position."""
    batch, seq, d_model = x.shape
    if d_model % num_heads:
        raise ValueError(f"d_model={d_model} is not divisible by num_heads={num_heads}")
    return x.reshape(batch, seq, num_heads, d_model // num_heads).transpose(1, 2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """(batch, num_heads, seq, d_head) -> (batch, seq, num_heads * d_head): undo `split_heads`."""
    batch, num_heads, seq, d_head = x.shape
    return x.transpose(1, 2).reshape(batch, seq, num_heads * d_head)


def _with_head_axis(mask: torch.Tensor | None) -> torch.Tensor | None:
    if mask is not None and mask.dim() == 3:  # (batch, queries, keys) -> (batch, 1, queries, keys)
        return mask.unsqueeze(1)
    return mask


class MultiHeadAttention(nn.Module):
    """Multi-head attention (Vaswani et al. 2017) with the same parameters as
    `torch.nn.MultiheadAttention`: four d_model x d_model projections, so its parameter count is
    that of single-head attention of the same width, whatever the number of heads.

    forward(queries (batch, num_queries, d_model), keys (batch, num_keys, d_model), values
    (batch, num_keys, d_model), mask) -> (output (batch, num_queries, d_model), weights
    (batch, num_heads, num_queries, num_keys), or None on the fast path).

    `fast=True` computes attention with `torch.nn.functional.scaled_dot_product_attention`
    (fused kernels, no weights returned); the default is the readable path of notebook 02.
    """

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        fast: bool = False,
    ):
        super().__init__()
        if d_model % num_heads:
            raise ValueError(f"d_model={d_model} is not divisible by num_heads={num_heads}")
        self.d_model, self.num_heads, self.fast = d_model, num_heads, fast
        self.query_projection = nn.Linear(d_model, d_model, bias=bias)
        self.key_projection = nn.Linear(d_model, d_model, bias=bias)
        self.value_projection = nn.Linear(d_model, d_model, bias=bias)
        self.output_projection = nn.Linear(d_model, d_model, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, num_heads={self.num_heads}, fast={self.fast}"

    def forward(self, queries, keys, values, mask=None):
        q = split_heads(self.query_projection(queries), self.num_heads)  # (B, h, Lq, d_head)
        k = split_heads(self.key_projection(keys), self.num_heads)  # (B, h, Lk, d_head)
        v = split_heads(self.value_projection(values), self.num_heads)  # (B, h, Lk, d_head)
        mask = _with_head_axis(mask)
        if self.fast:
            out = F.scaled_dot_product_attention(
                q, k, v, attn_mask=mask, dropout_p=self.dropout.p if self.training else 0.0
            )
            weights = None
        else:
            out, weights = scaled_dot_product_attention(q, k, v, mask)  # (B, h, Lq, d_head)
            if self.training and self.dropout.p > 0:
                weights = self.dropout(weights)
                out = weights @ v
        return self.output_projection(merge_heads(out)), weights  # (B, Lq, d_model)

    @torch.no_grad()
    def load_from_torch(self, reference: nn.MultiheadAttention) -> MultiHeadAttention:
        """Copy the weights of a `torch.nn.MultiheadAttention` of the same size into this module."""
        if reference.embed_dim != self.d_model or reference.num_heads != self.num_heads:
            raise ValueError(
                f"sizes differ: torch has embed_dim={reference.embed_dim}, "
                f"num_heads={reference.num_heads}; this module {self.extra_repr()}"
            )
        if reference.in_proj_weight is None:
            raise ValueError("only nn.MultiheadAttention with equal query/key/value sizes")
        projections = (self.query_projection, self.key_projection, self.value_projection)
        for projection, weight in zip(projections, reference.in_proj_weight.chunk(3), strict=True):
            projection.weight.copy_(weight)
        if reference.in_proj_bias is not None:
            for projection, bias in zip(projections, reference.in_proj_bias.chunk(3), strict=True):
                projection.bias.copy_(bias)
        self.output_projection.weight.copy_(reference.out_proj.weight)
        if reference.out_proj.bias is not None:
            self.output_projection.bias.copy_(reference.out_proj.bias)
        return self


def heads_one_at_a_time(module: MultiHeadAttention, queries, keys, values, mask=None):
    """The same computation as `module(...)`, looping over the heads in Python: one small
    attention per head on its slice of the projections. For comparison (and timing) only."""
    d_head = module.d_model // module.num_heads
    q = module.query_projection(queries)
    k = module.key_projection(keys)
    v = module.value_projection(values)
    outputs = []
    for head in range(module.num_heads):
        features = slice(head * d_head, (head + 1) * d_head)
        out, _ = scaled_dot_product_attention(
            q[..., features], k[..., features], v[..., features], mask
        )
        outputs.append(out)  # (batch, num_queries, d_head)
    return module.output_projection(torch.cat(outputs, dim=-1))


class MultiHeadAttentionSeq2SeqGRU(AttentionSeq2SeqGRU):
    """Notebook 02's attention translator with multi-head encoder-decoder attention: each head
    can look at a different source word for the same target word."""

    def __init__(
        self,
        source_vocab_size: int,
        target_vocab_size: int,
        embedding_dim: int = 64,
        hidden_size: int = 256,
        num_heads: int = 4,
        pad_id: int = 0,
    ):
        super().__init__(source_vocab_size, target_vocab_size, embedding_dim, hidden_size, pad_id)
        del self.key_projection  # the multi-head module has its own projections
        self.attention = MultiHeadAttention(hidden_size, num_heads)

    def attend(self, decoder_states, encoder_outputs, mask):
        """-> (combined states (batch, target_len, hidden), weights (batch, heads, target_len,
        source_len))."""
        context, weights = self.attention(decoder_states, encoder_outputs, encoder_outputs, mask)
        combined = torch.tanh(self.combine(torch.cat([context, decoder_states], dim=-1)))
        return combined, weights


@contextmanager
def recording_weights(modules: list[MultiHeadAttention]):
    """Within the block, every module of `modules` runs its readable path (the fast one returns
    no weights) and keeps the weights (batch, heads, Lq, Lk) of each call: yields one list per
    module, filled as the model runs. The modules' settings are restored afterwards.

    >>> with recording_weights([layer.self_attention for layer in encoder.layers]) as kept:
    ...     encoder(ids)   # kept[0][-1]: the first layer's weights of this call
    """
    kept = [[] for _ in modules]
    fast = [module.fast for module in modules]
    handles = []
    for module, weights in zip(modules, kept, strict=True):
        module.fast = False
        handles.append(
            module.register_forward_hook(
                lambda module, inputs, output, weights=weights: weights.append(output[1])
            )
        )
    try:
        yield kept
    finally:
        for handle in handles:
            handle.remove()
        for module, setting in zip(modules, fast, strict=True):
            module.fast = setting
