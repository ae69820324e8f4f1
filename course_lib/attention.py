"""Attention (notebook 02): scaled dot-product attention, masks, and a seq2seq with attention.

Shapes follow one convention throughout the course:
    queries (..., num_queries, d_k), keys (..., num_keys, d_k), values (..., num_keys, d_v)
    scores and weights (..., num_queries, num_keys), output (..., num_queries, d_v)
A mask is boolean and broadcasts to the scores' shape; True means "may attend" (as in
`torch.nn.functional.scaled_dot_product_attention`).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .rnn import Seq2SeqGRU


def _shape(tensor: torch.Tensor) -> tuple[int, ...]:
    return tuple(tensor.shape)


def validate_attention_inputs(
    queries: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor,
    mask: torch.Tensor | None = None,
) -> None:
    """Raise a ValueError that names the argument when the shapes don't fit together."""
    for name, tensor in (("queries", queries), ("keys", keys), ("values", values)):
        if not isinstance(tensor, torch.Tensor) or tensor.dim() < 2:
            got = _shape(tensor) if isinstance(tensor, torch.Tensor) else type(tensor).__name__
            raise ValueError(f"{name} must be a tensor of shape (..., length, features), got {got}")
    if queries.shape[-1] != keys.shape[-1]:
        raise ValueError(
            f"queries and keys must have the same last dimension d_k: queries "
            f"{_shape(queries)}, keys {_shape(keys)}"
        )
    if keys.shape[-2] != values.shape[-2]:
        raise ValueError(
            f"keys and values must have the same number of positions: keys "
            f"{_shape(keys)}, values {_shape(values)}"
        )
    if mask is None:
        return
    if mask.dtype != torch.bool:
        raise ValueError(f"mask must be a boolean tensor (True = may attend), got {mask.dtype}")
    batch = torch.broadcast_shapes(queries.shape[:-2], keys.shape[:-2])
    scores_shape = (*batch, queries.shape[-2], keys.shape[-2])
    try:
        if torch.broadcast_shapes(mask.shape, scores_shape) != scores_shape:
            raise RuntimeError
    except RuntimeError:
        raise ValueError(
            f"mask of shape {_shape(mask)} does not broadcast to scores "
            f"{scores_shape} (..., num_queries, num_keys)"
        ) from None


def scaled_dot_product_attention(
    queries: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor,
    mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax(Q K^T / sqrt(d_k)) V, returning (output, weights).

    Shapes: see the module docstring. Masked-out scores become -inf before the softmax, so they
    get weight 0; a query allowed to see no key at all gets all-zero weights (and output).
    """
    validate_attention_inputs(queries, keys, values, mask)
    d_k = queries.shape[-1]
    # dividing the queries is the same as dividing the scores, and cheaper: fewer numbers
    scores = (queries / math.sqrt(d_k)) @ keys.transpose(-2, -1)  # (..., num_queries, num_keys)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    if mask is not None and not mask.any(dim=-1).all():
        weights = weights.nan_to_num(0.0)  # rows where every key was masked: 0/0 became nan
    return weights @ values, weights


def padding_mask(valid_lens: torch.Tensor, num_keys: int) -> torch.Tensor:
    """True for real tokens, False for padding: shape (batch, 1, num_keys), which broadcasts
    over the queries of scores (batch, num_queries, num_keys).

    >>> padding_mask(torch.tensor([2, 3]), 4).int()
    tensor([[[1, 1, 0, 0]],
    <BLANKLINE>
            [[1, 1, 1, 0]]], dtype=torch.int32)
    """
    positions = torch.arange(num_keys, device=valid_lens.device)  # (num_keys,)
    return (positions[None, :] < valid_lens[:, None])[:, None, :]


def causal_mask(num_queries: int, num_keys: int | None = None, device=None) -> torch.Tensor:
    """True where a query may attend: key position <= query position. Shape (num_queries, num_keys).

    With more keys than queries (the queries are the last positions, as when decoding one token
    at a time), query i sits at position num_keys - num_queries + i.
    """
    num_keys = num_queries if num_keys is None else num_keys
    offset = num_keys - num_queries
    query_positions = torch.arange(num_queries, device=device)[:, None] + offset
    return torch.arange(num_keys, device=device)[None, :] <= query_positions


class AdditiveAttention(nn.Module):
    """Bahdanau et al. (2015): score(q, k) = v^T tanh(W_q q + W_k k), a small network per pair.

    forward(queries (..., num_queries, query_size), keys (..., num_keys, key_size),
            values (..., num_keys, d_v), mask) -> (output (..., num_queries, d_v), weights)
    """

    def __init__(self, query_size: int, key_size: int, hidden_size: int):
        super().__init__()
        self.query_projection = nn.Linear(query_size, hidden_size, bias=False)
        self.key_projection = nn.Linear(key_size, hidden_size, bias=False)
        self.score = nn.Linear(hidden_size, 1, bias=False)

    def forward(self, queries, keys, values, mask=None):
        # (..., num_queries, 1, hidden) + (..., 1, num_keys, hidden): every query with every key
        features = torch.tanh(
            self.query_projection(queries).unsqueeze(-2) + self.key_projection(keys).unsqueeze(-3)
        )
        scores = self.score(features).squeeze(-1)  # (..., num_queries, num_keys)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        return weights @ values, weights


class AttentionSeq2SeqGRU(Seq2SeqGRU):
    """The GRU encoder-decoder of notebook 01, plus attention (Luong et al. 2015, "general").

    At every target position the decoder state is a query; the encoder outputs are the values,
    and a learned projection of them the keys. The attention output (the context) is combined
    with the decoder state to predict the next token. The decoder no longer depends on one
    vector: it can look back at every source word.
    """

    def __init__(
        self,
        source_vocab_size: int,
        target_vocab_size: int,
        embedding_dim: int = 64,
        hidden_size: int = 256,
        pad_id: int = 0,
    ):
        super().__init__(source_vocab_size, target_vocab_size, embedding_dim, hidden_size, pad_id)
        self.key_projection = nn.Linear(hidden_size, hidden_size, bias=False)
        self.combine = nn.Linear(2 * hidden_size, hidden_size)

    def attend(self, decoder_states, encoder_outputs, mask):
        """decoder_states (batch, target_len, hidden) -> (combined states, weights
        (batch, target_len, source_len))."""
        context, weights = scaled_dot_product_attention(
            decoder_states, self.key_projection(encoder_outputs), encoder_outputs, mask
        )
        combined = torch.tanh(self.combine(torch.cat([context, decoder_states], dim=-1)))
        return combined, weights

    def forward(self, source, source_lengths, target_input):
        encoder_outputs, final = self.encode(source, source_lengths)
        decoder_states, _ = self.decoder(self.target_embedding(target_input), final)
        mask = padding_mask(source_lengths.to(source.device), source.shape[1])
        combined, _ = self.attend(decoder_states, encoder_outputs, mask)
        return self.output(combined)

    def decoder_step(self, token, state, encoder_outputs, source_mask):
        """One step of the decoder: token (batch, 1), the previous token; state (1, batch, hidden);
        encoder_outputs (batch, source_len, hidden); source_mask (batch, 1, source_len), True at
        real tokens -> (logits (batch, 1, target_vocab), the new state, attention weights (batch,
        1, source_len), or (batch, heads, 1, source_len) for multi-head attention)."""
        decoder_state, state = self.decoder(self.target_embedding(token), state)  # (B, 1, H)
        combined, weights = self.attend(decoder_state, encoder_outputs, source_mask)
        return self.output(combined), state, weights

    @torch.no_grad()
    def greedy_decode(
        self,
        source,
        source_lengths,
        max_len: int,
        bos_id: int,
        eos_id: int,
        return_attention: bool = False,
    ):
        """Ids (batch, <= max_len); with `return_attention` also the weights (batch, steps,
        source_len), or (batch, heads, steps, source_len) for multi-head attention."""
        encoder_outputs, state = self.encode(source, source_lengths)
        mask = padding_mask(source_lengths.to(source.device), source.shape[1])
        token = torch.full((source.shape[0], 1), bos_id, dtype=torch.long, device=source.device)
        predicted, attention = [], []
        finished = torch.zeros(source.shape[0], dtype=torch.bool, device=source.device)
        for _ in range(max_len):
            logits, state, weights = self.decoder_step(token, state, encoder_outputs, mask)
            token = logits.argmax(dim=-1)  # (batch, 1)
            predicted.append(token)
            attention.append(weights)
            finished |= token.squeeze(1) == eos_id
            if finished.all():
                break
        ids = torch.cat(predicted, dim=1)
        return (ids, torch.cat(attention, dim=-2)) if return_attention else ids
