"""A T5-style encoder-decoder (notebook 07): notebook 04's Transformer with T5's changes.

What T5 changes (Raffel et al., 2020), each a few lines below:
- **RMSNorm** instead of LayerNorm: divide by the root mean square of the features, scale by a
  learned weight; no mean subtracted, no bias.
- **No bias terms** in any linear layer.
- **Relative position bias** instead of positional encodings: a learned number per head for each
  *bucket* of key-minus-query distance, added to the attention scores. Distances below 8 (of 32
  buckets) get a bucket each; longer ones share logarithmically wider buckets up to 128. The first
  layer owns the table; every layer adds the same bias. The encoder's buckets tell left from right;
  the decoder's (causal) only look back.
- **Unscaled scores**: no 1/sqrt(d_kv); the initialisation of the query projection absorbs it.
- **Pre-norm** residual blocks, one shared embedding for encoder input, decoder input and output
  (scaled by d_model^-0.5 before the output projection), ReLU feed-forward (T5 v1.0).

Shapes: ids (batch, seq); hidden states (batch, seq, d_model); attention bias
(1 or batch, 1 or heads, queries or 1, keys), added to the scores. Where attention is not allowed
(padding, the future), the bias holds a very large negative number, so that its weight is 0: the
masks are folded into the bias once per stack, instead of once per layer.
The decoder reads the target shifted right by one, starting from id 0 (<pad>, T5's start token).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .data import IGNORE_INDEX
from .multi_head_attention import merge_heads, split_heads
from .training import evaluating
from .transformer import FeedForward


@dataclass(frozen=True)
class T5Config:
    vocab_size: int
    d_model: int = 128
    d_kv: int = 32  # features per head
    d_ff: int = 512
    layers: int = 2  # encoder layers, and as many decoder layers
    heads: int = 4
    num_buckets: int = 32
    max_distance: int = 128
    eps: float = 1e-6
    dropout: float = 0.0
    pad_id: int = 0
    eos_id: int = 1

    @classmethod
    def from_transformers(cls, config) -> T5Config:
        """The same architecture as a `transformers.T5Config` (ReLU feed-forward, tied
        embeddings, as many decoder layers as encoder layers)."""
        if config.is_gated_act or config.dense_act_fn != "relu":
            raise ValueError(
                "the course T5 has T5 v1.0's ReLU feed-forward; got "
                f"feed_forward_proj={config.feed_forward_proj!r}"
            )
        if not config.tie_word_embeddings or config.num_decoder_layers != config.num_layers:
            raise ValueError(
                "the course T5 ties its embeddings and has as many decoder layers as encoder layers"
            )
        return cls(
            vocab_size=config.vocab_size,
            d_model=config.d_model,
            d_kv=config.d_kv,
            d_ff=config.d_ff,
            layers=config.num_layers,
            heads=config.num_heads,
            num_buckets=config.relative_attention_num_buckets,
            max_distance=config.relative_attention_max_distance,
            eps=config.layer_norm_epsilon,
            dropout=config.dropout_rate,
            pad_id=config.pad_token_id,
            eos_id=config.eos_token_id,
        )


class RMSNorm(nn.Module):
    """x / sqrt(mean(x^2) + eps) * weight over the last axis; (..., d) -> (..., d)."""

    def __init__(self, d_model: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d_model))
        self.eps = eps

    def forward(self, x):
        mean_square = x.float().pow(2).mean(-1, keepdim=True)
        return self.weight * (x * torch.rsqrt(mean_square + self.eps)).to(x.dtype)


def relative_position_bucket(
    relative_position: torch.Tensor, bidirectional: bool, num_buckets: int, max_distance: int
) -> torch.Tensor:
    """Bucket index (same shape, long) for each key-minus-query distance.

    Bidirectional: half of the buckets for keys to the left, half for keys to the right.
    Causal: keys to the right never count (they are masked), all buckets look back.
    In each half, distances 0 .. n/2 - 1 get a bucket each; larger distances share buckets whose
    width grows logarithmically; everything from `max_distance` on lands in the last bucket.
    """
    buckets = torch.zeros_like(relative_position)
    if bidirectional:
        num_buckets //= 2
        buckets = buckets + (relative_position > 0).long() * num_buckets
        distance = relative_position.abs()
    else:
        distance = (-relative_position).clamp(min=0)
    exact = num_buckets // 2
    log_ratio = torch.log(distance.clamp(min=1).float() / exact) / math.log(max_distance / exact)
    far = (exact + (log_ratio * (num_buckets - exact)).long()).clamp(max=num_buckets - 1)
    return buckets + torch.where(distance < exact, distance, far)


class RelativePositionBias(nn.Module):
    """A learned bias per head and bucket: (num_queries, num_keys) -> (1, heads, queries, keys)."""

    def __init__(self, heads: int, num_buckets: int, max_distance: int, bidirectional: bool):
        super().__init__()
        self.table = nn.Embedding(num_buckets, heads)
        self.num_buckets, self.max_distance = num_buckets, max_distance
        self.bidirectional = bidirectional

    def forward(self, num_queries: int, num_keys: int):
        device = self.table.weight.device
        query_position = torch.arange(num_queries, device=device)[:, None]
        key_position = torch.arange(num_keys, device=device)[None, :]
        buckets = relative_position_bucket(
            key_position - query_position, self.bidirectional, self.num_buckets, self.max_distance
        )
        return self.table(buckets).permute(2, 0, 1).unsqueeze(0)


class T5Attention(nn.Module):
    """Multi-head attention without biases or 1/sqrt(d_kv), plus an additive bias.

    x (batch, Lq, d_model), memory (batch, Lk, d_model) or None (self-attention); bias
    broadcasting to (batch, heads, Lq, Lk): position bias and masks (see `masked_bias`).
    `fast=True` runs the same computation through `F.scaled_dot_product_attention`.
    """

    def __init__(self, d_model: int, heads: int, d_kv: int, fast: bool = False):
        super().__init__()
        self.heads, self.fast = heads, fast
        self.query = nn.Linear(d_model, heads * d_kv, bias=False)
        self.key = nn.Linear(d_model, heads * d_kv, bias=False)
        self.value = nn.Linear(d_model, heads * d_kv, bias=False)
        self.output = nn.Linear(heads * d_kv, d_model, bias=False)

    def forward(self, x, memory=None, bias=None):
        memory = x if memory is None else memory
        q = split_heads(self.query(x), self.heads)  # (B, h, Lq, d_kv)
        k = split_heads(self.key(memory), self.heads)  # (B, h, Lk, d_kv)
        v = split_heads(self.value(memory), self.heads)  # (B, h, Lk, d_kv)
        if self.fast:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=1.0)
        else:
            scores = q @ k.transpose(-2, -1)  # (B, h, Lq, Lk), not divided by sqrt(d_kv)
            if bias is not None:
                scores = scores + bias
            out = scores.softmax(-1) @ v  # (B, h, Lq, d_kv)
        return self.output(merge_heads(out))


def masked_bias(bias: torch.Tensor | None, mask: torch.Tensor, dtype=torch.float32):
    """`bias` (or zeros) with the most negative number of `dtype` where `mask` (boolean, True =
    may attend) is False; the shapes broadcast. Not -inf: a row with no allowed key then gets
    uniform weights instead of 0/0 = nan (as in `transformers`)."""
    base = torch.zeros(mask.shape, dtype=dtype, device=mask.device) if bias is None else bias
    return base.masked_fill(~mask, torch.finfo(base.dtype).min)


class EncoderBlock(nn.Module):
    """x + attention(norm(x)), then x + feed_forward(norm(x)); (batch, seq, d_model) both ways."""

    def __init__(self, config: T5Config):
        super().__init__()
        self.attention_norm = RMSNorm(config.d_model, config.eps)
        self.attention = T5Attention(config.d_model, config.heads, config.d_kv)
        self.feed_forward_norm = RMSNorm(config.d_model, config.eps)
        self.feed_forward = FeedForward(config.d_model, config.d_ff, config.dropout, bias=False)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x, bias):
        x = x + self.dropout(self.attention(self.attention_norm(x), bias=bias))
        return x + self.dropout(self.feed_forward(self.feed_forward_norm(x)))


class DecoderBlock(nn.Module):
    """Causal self-attention (with the decoder's position bias), cross-attention over the encoder
    output (no position bias), feed-forward; each pre-norm with a residual."""

    def __init__(self, config: T5Config):
        super().__init__()
        self.self_attention_norm = RMSNorm(config.d_model, config.eps)
        self.self_attention = T5Attention(config.d_model, config.heads, config.d_kv)
        self.cross_attention_norm = RMSNorm(config.d_model, config.eps)
        self.cross_attention = T5Attention(config.d_model, config.heads, config.d_kv)
        self.feed_forward_norm = RMSNorm(config.d_model, config.eps)
        self.feed_forward = FeedForward(config.d_model, config.d_ff, config.dropout, bias=False)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, y, memory, self_bias, memory_bias):
        attended = self.self_attention(self.self_attention_norm(y), bias=self_bias)
        y = y + self.dropout(attended)
        read = self.cross_attention(self.cross_attention_norm(y), memory, bias=memory_bias)
        y = y + self.dropout(read)
        return y + self.dropout(self.feed_forward(self.feed_forward_norm(y)))


class T5(nn.Module):
    """Encoder-decoder with a shared embedding; `forward(input_ids, decoder_input_ids)` ->
    scores (batch, target_len, vocab_size). Padding (id `pad_id`) in the input is masked."""

    def __init__(self, config: T5Config):
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.d_model)
        self.encoder_bias = RelativePositionBias(
            config.heads, config.num_buckets, config.max_distance, bidirectional=True
        )
        self.encoder_blocks = nn.ModuleList(EncoderBlock(config) for _ in range(config.layers))
        self.encoder_norm = RMSNorm(config.d_model, config.eps)
        self.decoder_bias = RelativePositionBias(
            config.heads, config.num_buckets, config.max_distance, bidirectional=False
        )
        self.decoder_blocks = nn.ModuleList(DecoderBlock(config) for _ in range(config.layers))
        self.decoder_norm = RMSNorm(config.d_model, config.eps)
        self.dropout = nn.Dropout(config.dropout)
        t5_init(self)

    def encode(self, input_ids):
        """input_ids (batch, source_len) -> (memory (batch, source_len, d_model),
        memory_mask (batch, 1, 1, source_len): True at real tokens)."""
        _check_ids(input_ids, self.config.vocab_size, "input_ids")
        memory_mask = (input_ids != self.config.pad_id)[:, None, None, :]
        length = input_ids.shape[1]
        bias = masked_bias(self.encoder_bias(length, length), memory_mask)  # (B, h, L, L)
        x = self.dropout(self.embedding(input_ids))
        for block in self.encoder_blocks:
            x = block(x, bias)
        return self.dropout(self.encoder_norm(x)), memory_mask

    def decode(self, decoder_input_ids, memory, memory_mask, positions=None):
        """decoder_input_ids (batch, target_len) -> scores (batch, target_len, vocab_size), or
        (n, vocab_size) at the n True places of `positions` (batch, target_len) only: the output
        layer is the most expensive part, and the loss needs only the real target tokens."""
        _check_ids(decoder_input_ids, self.config.vocab_size, "decoder_input_ids")
        length = decoder_input_ids.shape[1]
        causal = torch.ones(length, length, dtype=torch.bool, device=memory.device).tril()
        self_bias = masked_bias(self.decoder_bias(length, length), causal)  # (1, h, T, T)
        memory_bias = masked_bias(None, memory_mask, memory.dtype)  # (B, 1, 1, S)
        y = self.dropout(self.embedding(decoder_input_ids))
        for block in self.decoder_blocks:
            y = block(y, memory, self_bias, memory_bias)
        y = self.dropout(self.decoder_norm(y)) * self.config.d_model**-0.5
        if positions is not None:
            y = y[positions]  # (n, d_model)
        return y @ self.embedding.weight.T

    def forward(self, input_ids, decoder_input_ids, positions=None):
        memory, memory_mask = self.encode(input_ids)
        return self.decode(decoder_input_ids, memory, memory_mask, positions)

    @torch.no_grad()
    def load_from_transformers(self, reference) -> T5:
        """Copy the weights of a `transformers.T5ForConditionalGeneration` of the same config."""
        theirs = reference.state_dict()
        ours = {"embedding.weight": theirs["shared.weight"]}
        attention = {"query": "q", "key": "k", "value": "v", "output": "o"}
        feed_forward = {"linear1": "wi", "linear2": "wo"}
        for side in ("encoder", "decoder"):
            prefix = f"{side}.block.0.layer.0.SelfAttention.relative_attention_bias.weight"
            ours[f"{side}_bias.table.weight"] = theirs[prefix]
            ours[f"{side}_norm.weight"] = theirs[f"{side}.final_layer_norm.weight"]
            parts = (
                [("attention", "SelfAttention"), ("feed_forward", None)]
                if side == "encoder"
                else [
                    ("self_attention", "SelfAttention"),
                    ("cross_attention", "EncDecAttention"),
                    ("feed_forward", None),
                ]
            )
            for i in range(self.config.layers):
                for j, (name, their_name) in enumerate(parts):
                    layer = f"{side}.block.{i}.layer.{j}"
                    ours[f"{side}_blocks.{i}.{name}_norm.weight"] = theirs[
                        f"{layer}.layer_norm.weight"
                    ]
                    names = attention if their_name else feed_forward
                    for mine, theirs_name in names.items():
                        source = f"{layer}.{their_name or 'DenseReluDense'}.{theirs_name}.weight"
                        ours[f"{side}_blocks.{i}.{name}.{mine}.weight"] = theirs[source]
        self.load_state_dict(ours)
        return self


def _check_ids(ids, vocab_size: int, name: str) -> None:
    if not isinstance(ids, torch.Tensor) or ids.dim() != 2 or ids.dtype != torch.long:
        got = tuple(ids.shape) if isinstance(ids, torch.Tensor) else type(ids).__name__
        raise ValueError(f"{name} must be a long tensor of shape (batch, seq), got {got}")
    if ids.numel() and (ids.min() < 0 or ids.max() >= vocab_size):
        raise ValueError(
            f"{name} has ids outside 0..{vocab_size - 1}: {ids.min().item()}..{ids.max().item()}"
        )


@torch.no_grad()
def t5_init(model: T5) -> None:
    """T5's initialisation (Mesh TensorFlow): normal with std 1/sqrt(fan-in), and the query
    projection further divided by sqrt(d_kv), which stands in for the missing 1/sqrt(d_kv)."""
    config = model.config
    nn.init.normal_(model.embedding.weight, std=1.0)
    for module in model.modules():
        if isinstance(module, T5Attention):
            nn.init.normal_(module.query.weight, std=(config.d_model * config.d_kv) ** -0.5)
            nn.init.normal_(module.key.weight, std=config.d_model**-0.5)
            nn.init.normal_(module.value.weight, std=config.d_model**-0.5)
            nn.init.normal_(module.output.weight, std=(config.heads * config.d_kv) ** -0.5)
        elif isinstance(module, FeedForward):
            nn.init.normal_(module.linear1.weight, std=config.d_model**-0.5)
            nn.init.normal_(module.linear2.weight, std=config.d_ff**-0.5)
        elif isinstance(module, RelativePositionBias):
            nn.init.normal_(module.table.weight, std=config.d_model**-0.5)


def shift_right(labels: torch.Tensor, start_id: int = 0) -> torch.Tensor:
    """Decoder input from labels (batch, seq): start token first, the last label dropped, and
    ignored positions (-100) turned into padding."""
    shifted = torch.full_like(labels, start_id)
    shifted[:, 1:] = labels[:, :-1]
    return shifted.masked_fill(shifted == IGNORE_INDEX, start_id)


def seq2seq_loss(model: T5, batch) -> torch.Tensor:
    """Mean cross-entropy over the target tokens of `batch.labels` (batch, target_len; -100 =
    ignored) given `batch.input_ids`; the output layer runs at the real target positions only.
    `batch` may also be a list of such batches (one batch cut into parts of similar lengths): the
    mean is then over all their target tokens."""
    parts = batch if isinstance(batch, list) else [batch]
    total, count = 0.0, 0
    for part in parts:
        real = part.labels != IGNORE_INDEX
        scores = model(part.input_ids, shift_right(part.labels, model.config.pad_id), real)
        total = total + F.cross_entropy(scores, part.labels[real], reduction="sum")
        count += int(real.sum())
    return total / max(count, 1)


def generate(model: T5, input_ids: torch.Tensor, max_len: int = 32) -> list[list[int]]:
    """Greedy decoding for a batch: input_ids (batch, source_len) -> one id list per row, without
    the start token, cut before the first </s> (eos_id)."""
    with evaluating(model):
        memory, memory_mask = model.encode(input_ids)
        output = torch.full((len(input_ids), 1), model.config.pad_id, device=input_ids.device)
        finished = torch.zeros(len(input_ids), dtype=torch.bool, device=input_ids.device)
        for _ in range(max_len):
            next_ids = model.decode(output, memory, memory_mask)[:, -1].argmax(-1)
            next_ids = next_ids.masked_fill(finished, model.config.pad_id)
            output = torch.cat([output, next_ids[:, None]], dim=1)
            finished |= next_ids == model.config.eos_id
            if finished.all():
                break
    results = []
    for row in output[:, 1:].tolist():
        results.append(row[: row.index(model.config.eos_id)] if model.config.eos_id in row else row)
    return results
