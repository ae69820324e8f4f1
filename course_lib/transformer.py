"""The Transformer (notebook 04): positional encoding, encoder and decoder layers, the full
encoder-decoder, its masks, and decoding (greedy and beam search). The learning-rate warm-up it
trains with is `training.warmup_schedule`.

Layers keep PyTorch's structure (attention, two linear layers, LayerNorms, residuals) so that the
weights of `torch.nn.TransformerEncoderLayer` / `DecoderLayer` / `Transformer` can be copied in
and the outputs compared (tests/test_transformer.py). Where the LayerNorm goes is an explicit
option: `norm_first=False` is the original paper's post-norm (x = norm(x + sublayer(x))),
`norm_first=True` the pre-norm most modern models use (x = x + sublayer(norm(x))).

Shapes: (batch, seq, d_model) everywhere; masks are boolean, True = may attend.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .attention import causal_mask, padding_mask
from .multi_head_attention import MultiHeadAttention, recording_weights


def positional_encoding(max_len: int, d_model: int) -> torch.Tensor:
    """Sinusoidal positional encoding, shape (max_len, d_model), with w_i = 10000^(-2i / d_model):
    PE[pos, 2i] = sin(pos * w_i) and PE[pos, 2i + 1] = cos(pos * w_i).
    """
    if d_model % 2:
        raise ValueError(f"d_model must be even for sine/cosine pairs, got {d_model}")
    positions = torch.arange(max_len, dtype=torch.float32)[:, None]  # (max_len, 1)
    frequencies = 10000 ** (-torch.arange(0, d_model, 2, dtype=torch.float32) / d_model)
    angles = positions * frequencies  # (max_len, d_model / 2)
    encoding = torch.zeros(max_len, d_model)
    encoding[:, 0::2] = torch.sin(angles)
    encoding[:, 1::2] = torch.cos(angles)
    return encoding


class TokenEmbedding(nn.Module):
    """Embedding multiplied by sqrt(d_model), initialised N(0, 1 / d_model): the scaled vectors
    have entries of size about 1, the same as the positional encoding they are added to.

    (PyTorch's default N(0, 1) init times sqrt(d_model) gives entries of size ~11 at d_model 128,
    which drowns the positional signal: notebook 04 shows what that does to accuracy.)
    """

    def __init__(
        self,
        vocab_size: int,
        d_model: int,
        pad_id: int = 0,
        scale: bool = True,
        default_init: bool = False,
    ):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, d_model, padding_idx=pad_id)
        self.factor = math.sqrt(d_model) if scale else 1.0
        if not default_init:
            nn.init.normal_(self.embedding.weight, std=d_model**-0.5)
            with torch.no_grad():
                self.embedding.weight[pad_id].zero_()

    def forward(self, ids):
        return self.embedding(ids) * self.factor  # (batch, seq, d_model)


ACTIVATIONS = {"relu": F.relu, "gelu": F.gelu}  # the paper's, and BERT's / GPT's


def sublayer_connection(
    x: torch.Tensor, sublayer, norm: nn.Module, dropout: nn.Module, norm_first: bool
) -> torch.Tensor:
    """The residual connection and LayerNorm around one sublayer (attention or feed-forward):
    pre-norm x + dropout(sublayer(norm(x))), post-norm norm(x + dropout(sublayer(x))).
    Shapes: x (batch, seq, d_model) -> (batch, seq, d_model); `sublayer` maps the same shape."""
    if norm_first:
        return x + dropout(sublayer(norm(x)))
    return norm(x + dropout(sublayer(x)))


class FeedForward(nn.Module):
    """Position-wise feed-forward network: linear2(dropout(activation(linear1(x)))),
    (batch, seq, d_model) -> (batch, seq, d_model); activation "relu" or "gelu"; `bias=False`
    drops the linear layers' bias terms (T5, notebook 07)."""

    def __init__(
        self,
        d_model: int,
        d_ff: int,
        dropout: float = 0.0,
        activation: str = "relu",
        bias: bool = True,
    ):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; known: {sorted(ACTIVATIONS)}")
        self.linear1 = nn.Linear(d_model, d_ff, bias=bias)
        self.linear2 = nn.Linear(d_ff, d_model, bias=bias)
        self.dropout = nn.Dropout(dropout)
        self.activation = ACTIVATIONS[activation]

    def forward(self, x):
        return self.linear2(self.dropout(self.activation(self.linear1(x))))


class EncoderLayer(nn.Module):
    """Self-attention, then feed-forward, each wrapped in a residual connection and LayerNorm.
    (BERT's layer is this one with norm_first=False, activation="gelu" and norm_eps=1e-12.)"""

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        d_ff: int,
        dropout: float = 0.0,
        norm_first: bool = False,
        fast: bool = False,
        activation: str = "relu",
        norm_eps: float = 1e-5,
    ):
        super().__init__()
        self.norm_first = norm_first
        self.self_attention = MultiHeadAttention(d_model, num_heads, dropout, fast=fast)
        self.feed_forward = FeedForward(d_model, d_ff, dropout, activation)
        self.norm1 = nn.LayerNorm(d_model, eps=norm_eps)
        self.norm2 = nn.LayerNorm(d_model, eps=norm_eps)
        self.dropout1, self.dropout2 = nn.Dropout(dropout), nn.Dropout(dropout)

    def forward(self, x, mask=None):
        """x (batch, seq, d_model) -> (batch, seq, d_model); mask broadcastable to (batch, seq,
        seq), True = may attend."""

        def attend(y):
            return self.self_attention(y, y, y, mask)[0]

        x = sublayer_connection(x, attend, self.norm1, self.dropout1, self.norm_first)
        return sublayer_connection(x, self.feed_forward, self.norm2, self.dropout2, self.norm_first)

    @torch.no_grad()
    def load_from_torch(self, layer: nn.TransformerEncoderLayer) -> EncoderLayer:
        self.self_attention.load_from_torch(layer.self_attn)
        _copy_feed_forward(self.feed_forward, layer)
        self.norm1.load_state_dict(layer.norm1.state_dict())
        self.norm2.load_state_dict(layer.norm2.state_dict())
        return self


class DecoderLayer(nn.Module):
    """Masked self-attention, cross-attention to the encoder output (the memory), feed-forward;
    each with a residual connection and LayerNorm."""

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        d_ff: int,
        dropout: float = 0.0,
        norm_first: bool = False,
        fast: bool = False,
    ):
        super().__init__()
        self.norm_first = norm_first
        self.self_attention = MultiHeadAttention(d_model, num_heads, dropout, fast=fast)
        self.cross_attention = MultiHeadAttention(d_model, num_heads, dropout, fast=fast)
        self.feed_forward = FeedForward(d_model, d_ff, dropout)
        self.norm1, self.norm2, self.norm3 = (nn.LayerNorm(d_model) for _ in range(3))
        self.dropout1, self.dropout2, self.dropout3 = (nn.Dropout(dropout) for _ in range(3))

    def forward(self, x, memory, target_mask=None, memory_mask=None):
        """x (batch, target_len, d_model), memory (batch, source_len, d_model); target_mask
        broadcastable to (batch, target_len, target_len), memory_mask to (batch, target_len,
        source_len)."""

        def attend_to_itself(y):
            return self.self_attention(y, y, y, target_mask)[0]

        def attend_to_memory(y):  # the queries from the decoder, keys and values from the encoder
            return self.cross_attention(y, memory, memory, memory_mask)[0]

        x = sublayer_connection(x, attend_to_itself, self.norm1, self.dropout1, self.norm_first)
        x = sublayer_connection(x, attend_to_memory, self.norm2, self.dropout2, self.norm_first)
        return sublayer_connection(x, self.feed_forward, self.norm3, self.dropout3, self.norm_first)

    @torch.no_grad()
    def load_from_torch(self, layer: nn.TransformerDecoderLayer) -> DecoderLayer:
        self.self_attention.load_from_torch(layer.self_attn)
        self.cross_attention.load_from_torch(layer.multihead_attn)
        _copy_feed_forward(self.feed_forward, layer)
        for ours, theirs in (
            (self.norm1, layer.norm1),
            (self.norm2, layer.norm2),
            (self.norm3, layer.norm3),
        ):
            ours.load_state_dict(theirs.state_dict())
        return self


def _copy_feed_forward(feed_forward: FeedForward, layer) -> None:
    feed_forward.linear1.load_state_dict(layer.linear1.state_dict())
    feed_forward.linear2.load_state_dict(layer.linear2.state_dict())


class TransformerStack(nn.Module):
    """Encoder and decoder stacks with final LayerNorms, as in `torch.nn.Transformer`: takes
    embedded sequences, returns decoder states (batch, target_len, d_model)."""

    def __init__(
        self,
        d_model: int = 128,
        num_heads: int = 4,
        num_encoder_layers: int = 2,
        num_decoder_layers: int = 2,
        d_ff: int = 512,
        dropout: float = 0.0,
        norm_first: bool = False,
        fast: bool = False,
    ):
        super().__init__()
        self.encoder_layers = nn.ModuleList(
            EncoderLayer(d_model, num_heads, d_ff, dropout, norm_first, fast)
            for _ in range(num_encoder_layers)
        )
        self.decoder_layers = nn.ModuleList(
            DecoderLayer(d_model, num_heads, d_ff, dropout, norm_first, fast)
            for _ in range(num_decoder_layers)
        )
        self.encoder_norm, self.decoder_norm = nn.LayerNorm(d_model), nn.LayerNorm(d_model)

    def encode(self, source, source_mask=None):
        """source (batch, source_len, d_model) -> memory (batch, source_len, d_model);
        source_mask broadcastable to (batch, source_len, source_len)."""
        for layer in self.encoder_layers:
            source = layer(source, source_mask)
        return self.encoder_norm(source)  # the memory

    def decode(self, target, memory, target_mask=None, memory_mask=None):
        """target (batch, target_len, d_model), memory (batch, source_len, d_model) -> decoder
        states (batch, target_len, d_model)."""
        for layer in self.decoder_layers:
            target = layer(target, memory, target_mask, memory_mask)
        return self.decoder_norm(target)

    def forward(self, source, target, source_mask=None, target_mask=None, memory_mask=None):
        return self.decode(target, self.encode(source, source_mask), target_mask, memory_mask)

    @torch.no_grad()
    def load_from_torch(self, reference: nn.Transformer) -> TransformerStack:
        for ours, theirs in zip(self.encoder_layers, reference.encoder.layers, strict=True):
            ours.load_from_torch(theirs)
        for ours, theirs in zip(self.decoder_layers, reference.decoder.layers, strict=True):
            ours.load_from_torch(theirs)
        self.encoder_norm.load_state_dict(reference.encoder.norm.state_dict())
        self.decoder_norm.load_state_dict(reference.decoder.norm.state_dict())
        return self


class TranslationTransformer(nn.Module):
    """Encoder-decoder Transformer for the translation task: embeddings + positional encoding, the
    encoder and decoder stacks with their final LayerNorms (as `TransformerStack`, written out),
    and a linear layer to target-vocabulary logits. Same interface as the notebook 01/02 models:
    forward(source, source_lengths, target_input) and greedy_decode."""

    def __init__(
        self,
        source_vocab_size: int,
        target_vocab_size: int,
        d_model: int = 128,
        num_heads: int = 4,
        num_layers: int = 2,
        d_ff: int = 512,
        dropout: float = 0.1,
        norm_first: bool = True,
        max_len: int = 256,
        pad_id: int = 0,
        scale_embeddings: bool = True,
        default_embedding_init: bool = False,
        fast: bool = False,
    ):
        super().__init__()
        self.source_embedding = TokenEmbedding(
            source_vocab_size, d_model, pad_id, scale_embeddings, default_embedding_init
        )
        self.target_embedding = TokenEmbedding(
            target_vocab_size, d_model, pad_id, scale_embeddings, default_embedding_init
        )
        self.register_buffer("positions", positional_encoding(max_len, d_model), persistent=False)
        self.dropout = nn.Dropout(dropout)
        self.encoder_layers = nn.ModuleList(
            EncoderLayer(d_model, num_heads, d_ff, dropout, norm_first, fast)
            for _ in range(num_layers)
        )
        self.decoder_layers = nn.ModuleList(
            DecoderLayer(d_model, num_heads, d_ff, dropout, norm_first, fast)
            for _ in range(num_layers)
        )
        self.encoder_norm, self.decoder_norm = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.output = nn.Linear(d_model, target_vocab_size)

    def _embed(self, embedding: TokenEmbedding, ids):
        if ids.shape[1] > self.positions.shape[0]:
            raise ValueError(
                f"sequence of {ids.shape[1]} tokens is longer than max_len="
                f"{self.positions.shape[0]}"
            )
        return self.dropout(embedding(ids) + self.positions[: ids.shape[1]])

    def encode(self, source, source_lengths):
        """source (batch, source_len) -> memory (batch, source_len, d_model) and the padding
        mask (batch, 1, source_len)."""
        mask = padding_mask(source_lengths.to(source.device), source.shape[1])
        x = self._embed(self.source_embedding, source)
        for layer in self.encoder_layers:
            x = layer(x, mask)
        return self.encoder_norm(x), mask

    def decode(self, target_input, memory, source_mask):
        """target_input (batch, target_len) -> logits (batch, target_len, target_vocab) for every
        target position, each seeing only the positions before it (causal)."""
        target_mask = causal_mask(target_input.shape[1], device=target_input.device)
        y = self._embed(self.target_embedding, target_input)
        for layer in self.decoder_layers:
            y = layer(y, memory, target_mask, source_mask)
        return self.output(self.decoder_norm(y))

    def forward(self, source, source_lengths, target_input):
        memory, source_mask = self.encode(source, source_lengths)
        return self.decode(target_input, memory, source_mask)

    @torch.no_grad()
    def greedy_decode(self, source, source_lengths, max_len: int, bos_id: int, eos_id: int):
        """Ids (batch, <= max_len). Re-runs the decoder on the whole prefix at each step
        (readable; a key/value cache would avoid the repeated work)."""
        memory, source_mask = self.encode(source, source_lengths)
        tokens = torch.full((source.shape[0], 1), bos_id, dtype=torch.long, device=source.device)
        finished = torch.zeros(source.shape[0], dtype=torch.bool, device=source.device)
        for _ in range(max_len):
            next_token = self.decode(tokens, memory, source_mask)[:, -1].argmax(-1)  # (batch,)
            tokens = torch.cat([tokens, next_token[:, None]], dim=1)
            finished |= next_token == eos_id
            if finished.all():
                break
        return tokens[:, 1:]


@torch.no_grad()
def attention_maps(
    model: TranslationTransformer, source, source_lengths, target_input
) -> dict[str, torch.Tensor]:
    """Every attention weight of one forward pass, for the first sentence of the batch:
    {"encoder self-attention": (layers, heads, S, S), "decoder self-attention": (layers, heads,
    T, T), "cross-attention": (layers, heads, T, S)}, with S and T the padded source and target
    lengths (on the readable attention path, which returns the weights)."""
    kinds = {
        "encoder self-attention": [layer.self_attention for layer in model.encoder_layers],
        "decoder self-attention": [layer.self_attention for layer in model.decoder_layers],
        "cross-attention": [layer.cross_attention for layer in model.decoder_layers],
    }
    modules = [module for group in kinds.values() for module in group]
    with recording_weights(modules) as kept:
        model(source, source_lengths, target_input)
    in_order = iter(kept)  # one list of weights per module, in the order of `modules`
    return {
        kind: torch.stack([next(in_order)[-1][0].cpu() for _ in group])
        for kind, group in kinds.items()
    }


def decoder_self_attention_mask(target_lengths: torch.Tensor, target_len: int) -> torch.Tensor:
    """Mask for the decoder's masked self-attention, shape (batch, target_len, target_len): a
    position may attend to itself and earlier positions (causal) that are real tokens (padding)."""
    return padding_mask(target_lengths, target_len) & causal_mask(
        target_len, device=target_lengths.device
    )


def beam_step(
    log_probs: torch.Tensor, beam_scores: torch.Tensor, beam_size: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One step of beam search over ONE sentence.

    log_probs (num_beams, vocab): log-probabilities of the next token for each live hypothesis;
    beam_scores (num_beams,): the summed log-probability of each hypothesis so far.
    Returns the best `beam_size` continuations over all beams and tokens together:
    (scores (beam_size,), beam_indices (beam_size,), token_indices (beam_size,)).
    """
    vocab = log_probs.shape[-1]
    totals = (beam_scores[:, None] + log_probs).flatten()  # (num_beams * vocab,)
    scores, flat_indices = totals.topk(min(beam_size, totals.numel()))
    return scores, flat_indices // vocab, flat_indices % vocab


def length_normalized(
    scores: float | torch.Tensor, lengths: int | torch.Tensor, alpha: float = 0.6
) -> float | torch.Tensor:
    """Summed log-probabilities divided by length^alpha, so that longer hypotheses (which add
    more negative terms) are not unfairly beaten by short ones; alpha = 0 turns it off, alpha = 1
    is the mean log-probability per token. Works on numbers or on tensors (scores (n,) float,
    lengths (n,)). (A simplified form of Wu et al. 2016's penalty ((5 + length) / 6)^alpha.)"""
    return scores / lengths**alpha


@torch.no_grad()
def beam_search(
    model: TranslationTransformer,
    source: torch.Tensor,
    source_length: int,
    beam_size: int,
    max_len: int,
    bos_id: int,
    eos_id: int,
    alpha: float = 0.6,
) -> list[tuple[list[int], float]]:
    """Beam search for one sentence (source (1, source_len)): the finished hypotheses (and, if
    `max_len` was reached first, the unfinished ones) as (token ids without <bos>/<eos>,
    length-normalised score), best first."""
    memory, source_mask = model.encode(source, torch.tensor([source_length]))
    hypotheses = torch.full((1, 1), bos_id, dtype=torch.long, device=source.device)
    scores = torch.zeros(1, device=source.device)
    finished: list[tuple[list[int], float]] = []
    for _ in range(max_len):
        count = hypotheses.shape[0]
        logits = model.decode(
            hypotheses, memory.expand(count, -1, -1), source_mask.expand(count, -1, -1)
        )[:, -1]
        scores, beams, tokens = beam_step(logits.log_softmax(-1), scores, beam_size)
        hypotheses = torch.cat([hypotheses[beams], tokens[:, None]], dim=1)
        done = tokens == eos_id
        for row in done.nonzero().flatten().tolist():
            ids = hypotheses[row, 1:-1].tolist()
            finished.append((ids, length_normalized(scores[row].item(), len(ids) + 1, alpha)))
        if done.all() or len(finished) >= beam_size:
            break
        hypotheses, scores = hypotheses[~done], scores[~done]
    else:  # max_len reached: the hypotheses still alive compete with the finished ones
        finished += [
            (row[1:].tolist(), length_normalized(score, row.shape[0] - 1, alpha))
            for row, score in zip(hypotheses, scores.tolist(), strict=True)
        ]
    return sorted(finished, key=lambda item: item[1], reverse=True)
