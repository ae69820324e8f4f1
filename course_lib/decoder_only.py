"""A decoder-only (GPT-style) Transformer language model used as a summariser (notebook 05).

One sequence per example: article <sep> summary <eos>. The model predicts every next token; the
loss can count only the summary's tokens (`summary_loss_mask`). At test time it is given
article <sep> and continues, one token at a time, until it writes <eos> (`generate`).

The layers are notebook 04's pre-norm `EncoderLayer`s used with a causal mask: self-attention
over the tokens so far and a feed-forward network, no encoder and no cross-attention. With the
weights copied, the stack matches `torch.nn.TransformerEncoder` run with a causal mask
(tests/test_decoder_only.py).

Shapes: ids (batch, seq); logits (batch, seq, vocab); masks boolean, True = counts / may attend.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import summarization_data
from .attention import causal_mask
from .data import load_checkpoint, save_checkpoint
from .summarization_data import EOS_ID, PAD_ID
from .training import evaluating
from .transformer import EncoderLayer, TokenEmbedding, positional_encoding


class GPTBlock(EncoderLayer):
    """A GPT block: pre-norm causal self-attention, then a pre-norm feed-forward network, each
    with a residual connection (notebook 04's encoder layer with norm_first=True, causal by
    default). x (batch, seq, d_model) -> (batch, seq, d_model). GPT-2 uses GELU; the course keeps
    notebook 04's ReLU."""

    def __init__(self, d_model, num_heads, d_ff, dropout: float = 0.0, fast: bool = False):
        super().__init__(d_model, num_heads, d_ff, dropout, norm_first=True, fast=fast)

    def forward(self, x, mask=None):
        """mask broadcastable to (batch, seq, seq), True = may attend; by default causal: each
        position sees itself and the positions before it."""
        if mask is None:
            mask = causal_mask(x.shape[1], device=x.device)
        return super().forward(x, mask)


def summary_loss_mask(ids: torch.Tensor, sep_id: int, pad_id: int) -> torch.Tensor:
    """(batch, seq) -> (batch, seq) bool: True at the summary's tokens, i.e. every token after
    the (first) <sep> that is not padding; the <eos> ending the summary counts, <sep> does not."""
    after_sep = (ids == sep_id).int().cumsum(dim=1) - (ids == sep_id).int() > 0
    return after_sep & (ids != pad_id)


class DecoderOnlyLM(nn.Module):
    """Token embedding + sinusoidal positions, `num_layers` causal pre-norm layers, a final
    LayerNorm and a linear head to vocabulary logits: ids (batch, seq) -> logits
    (batch, seq, vocab_size), the scores at position t being the prediction of token t + 1."""

    def __init__(
        self,
        vocab_size: int,
        d_model: int = 128,
        num_heads: int = 4,
        num_layers: int = 2,
        d_ff: int = 512,
        dropout: float = 0.1,
        max_len: int = 256,
        pad_id: int = 0,
        fast: bool = False,
    ):
        super().__init__()
        self.embedding = TokenEmbedding(vocab_size, d_model, pad_id)
        self.register_buffer("positions", positional_encoding(max_len, d_model), persistent=False)
        self.dropout = nn.Dropout(dropout)
        self.layers = nn.ModuleList(
            GPTBlock(d_model, num_heads, d_ff, dropout, fast=fast) for _ in range(num_layers)
        )
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size)
        self.pad_id = pad_id
        self.config = dict(
            vocab_size=vocab_size,
            d_model=d_model,
            num_heads=num_heads,
            num_layers=num_layers,
            d_ff=d_ff,
            dropout=dropout,
            max_len=max_len,
            pad_id=pad_id,
        )

    def hidden_states(self, ids: torch.Tensor, padding: torch.Tensor | None = None):
        """ids (batch, seq) -> (batch, seq, d_model). `padding` (batch, seq), True = real token,
        is needed only when rows are padded on the LEFT (batched generation): pads are then
        never attended to, and positions count real tokens only."""
        if ids.shape[1] > self.positions.shape[0]:
            raise ValueError(
                f"sequence of {ids.shape[1]} tokens is longer than max_len="
                f"{self.positions.shape[0]}"
            )
        mask = causal_mask(ids.shape[1], device=ids.device)  # (seq, seq)
        if padding is None:  # right padding: causality already keeps pads out of real rows
            x = self.embedding(ids) + self.positions[: ids.shape[1]]
        else:
            where = (padding.long().cumsum(dim=1) - 1).clamp(min=0)  # (batch, seq)
            x = self.embedding(ids) + self.positions[where]
            # (batch, seq, seq); a pad attends to itself only, so that no row is all False
            mask = (mask & padding[:, None, :]) | torch.eye(
                ids.shape[1], dtype=torch.bool, device=ids.device
            )
        x = self.dropout(x)
        for layer in self.layers:
            x = layer(x, mask)
        return self.norm(x)

    def forward(
        self,
        ids: torch.Tensor,
        padding: torch.Tensor | None = None,
        positions: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Next-token logits (batch, seq, vocab) at every position, or (n, vocab) at the n True
        places of `positions` (batch, seq) only: the output layer, over the whole vocabulary, is
        the most expensive part, and a loss or a decoder rarely needs it everywhere."""
        states = self.hidden_states(ids, padding)
        if positions is not None:
            states = states[positions]  # (n, d_model)
        return self.head(states)

    @torch.no_grad()
    def load_from_torch(self, encoder: nn.TransformerEncoder) -> DecoderOnlyLM:
        """Copy the layers and final norm of a pre-norm `nn.TransformerEncoder` (for parity)."""
        for ours, theirs in zip(self.layers, encoder.layers, strict=True):
            ours.load_from_torch(theirs)
        self.norm.load_state_dict(encoder.norm.state_dict())
        return self


def summarizer_loss(model: DecoderOnlyLM, batch, sep_id: int, weighted: bool = True):
    """Mean next-token cross-entropy. `weighted`: over the summary's tokens only (the LM head then
    runs on those positions only, which is also cheaper); otherwise over every real token,
    article included. `batch.ids` is (batch, seq) article <sep> summary <eos> <pad>..."""
    inputs, targets = batch.ids[:, :-1], batch.ids[:, 1:]
    if weighted:
        counts = summary_loss_mask(batch.ids, sep_id, model.pad_id)[:, 1:]  # (batch, seq - 1)
    else:
        counts = targets != model.pad_id
    logits = model(inputs, positions=counts)  # (counted tokens, vocab)
    return F.cross_entropy(logits, targets[counts])


@torch.no_grad()
def generate(
    model: nn.Module, prompt: torch.Tensor, max_new_tokens: int, eos_id: int
) -> torch.Tensor:
    """Greedy continuation of one prompt (seq,): the new tokens (at most `max_new_tokens`),
    stopping when the model writes <eos>, which is not included. The readable version: the model
    re-reads the whole sequence at every step."""
    ids = prompt
    for _ in range(max_new_tokens):
        logits = model(ids[None])[0, -1]  # (vocab,): the prediction after the last token
        next_id = logits.argmax()
        if next_id.item() == eos_id:
            break
        ids = torch.cat([ids, next_id[None]])
    return ids[len(prompt) :]


def sample_next_token(
    logits: torch.Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Draw one token per row from logits (batch, vocab): keep the `top_k` highest scores (all,
    if None), divide by `temperature` (below 1: sharper, above 1: flatter), softmax, sample with
    `generator`. Returns ids (batch,) long. A temperature near 0 picks the most likely token."""
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    if top_k is not None:
        kth_best = logits.topk(top_k, dim=-1).values[..., -1:]  # (batch, 1)
        logits = logits.masked_fill(logits < kth_best, float("-inf"))
    probabilities = torch.softmax(logits / temperature, dim=-1)
    return torch.multinomial(probabilities, 1, generator=generator).squeeze(-1)


def sample_top_p(
    logits: torch.Tensor, p: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Nucleus (top-p) sampling (Holtzman et al. 2020): from logits (batch, vocab), keep the
    smallest set of most likely tokens whose probabilities add up to at least `p` (the token that
    crosses `p` included), renormalise, and draw one token per row with `generator`. Returns ids
    (batch,) long."""
    if not 0 < p <= 1:
        raise ValueError(f"p must be in (0, 1], got {p}")
    probabilities = torch.softmax(logits, dim=-1)
    ranked, order = probabilities.sort(dim=-1, descending=True)  # (batch, vocab) each
    before = ranked.cumsum(dim=-1) - ranked  # the mass of the tokens ranked above each one
    ranked = ranked.masked_fill(before >= p, 0.0)
    drawn = torch.multinomial(ranked, 1, generator=generator)  # (batch, 1): a rank; renormalises
    return order.gather(-1, drawn).squeeze(-1)  # the token at that rank


def repeated_ngram_tokens(ids: list[int], n: int) -> list[int]:
    """The tokens that would repeat an n-gram already in `ids` (n-gram blocking, as Paulus et al.
    2018 and Hugging Face's `no_repeat_ngram_size`): the tokens that followed earlier
    occurrences of the last n - 1 tokens. [5, 6, 7, 5, 6] with n = 3 -> [7]."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if len(ids) < n - 1:
        return []
    last = tuple(ids[len(ids) - (n - 1) :])
    return [ids[i + n - 1] for i in range(len(ids) - n + 1) if tuple(ids[i : i + n - 1]) == last]


@torch.no_grad()
def generate_batch(
    model: DecoderOnlyLM,
    prompts: list[torch.Tensor],
    max_new_tokens: int,
    eos_id: int,
    pad_id: int = 0,
    no_repeat_ngram: int = 0,
) -> list[torch.Tensor]:
    """`generate` for many prompts at once: prompts, each (seq_i,), are padded on the left so
    that every row's next token is at the last position. Returns each prompt's new tokens, each
    (n_i,) with n_i <= max_new_tokens, without the <eos>. `no_repeat_ngram` = n > 0: a token
    that would write an n-gram of the summary a second time is never chosen."""
    if not prompts:
        raise ValueError("generate_batch needs at least one prompt")
    device = next(model.parameters()).device
    longest = max(len(prompt) for prompt in prompts)
    ids = torch.full((len(prompts), longest), pad_id, dtype=torch.long, device=device)
    padding = torch.zeros(len(prompts), longest, dtype=torch.bool, device=device)
    for row, prompt in enumerate(prompts):
        ids[row, longest - len(prompt) :] = prompt.to(device)
        padding[row, longest - len(prompt) :] = True
    finished = torch.zeros(len(prompts), dtype=torch.bool, device=device)
    new_tokens = []
    for _ in range(max_new_tokens):
        last = torch.zeros_like(padding)
        last[:, -1] = True  # the output layer only where it is needed: each row's last position
        logits = model(ids, padding, positions=last)  # (batch, vocab)
        if no_repeat_ngram and new_tokens:
            written = torch.stack(new_tokens, dim=1).tolist()  # (batch, steps so far)
            for row, tokens in enumerate(written):
                banned = repeated_ngram_tokens(tokens, no_repeat_ngram)
                logits[row, banned] = float("-inf")
        next_ids = logits.argmax(-1)  # (batch,)
        next_ids = torch.where(finished, torch.full_like(next_ids, eos_id), next_ids)
        new_tokens.append(next_ids)
        finished |= next_ids == eos_id
        if finished.all():
            break
        ids = torch.cat([ids, next_ids[:, None]], dim=1)
        padding = torch.cat([padding, torch.ones_like(padding[:, :1])], dim=1)
    written = torch.stack(new_tokens, dim=1).cpu()  # (batch, steps)
    outputs = []
    for row in written:
        stops = (row == eos_id).nonzero()
        outputs.append(row[: stops[0, 0]] if len(stops) else row)
    return outputs


def summarize(
    model: DecoderOnlyLM,
    data,
    split: str = "test",
    limit: int | None = None,
    batch_size: int = 64,
    max_new_tokens: int = 32,
    no_repeat_ngram: int = 0,
) -> list[str]:
    """Greedy summaries (strings) of the first `limit` articles of `split` of `data` (a
    `SummarizationData`), in the split's order, with n-gram blocking if `no_repeat_ngram` > 0.
    Prompts are batched shortest first, and decoding stops early on a batch whose summaries are
    all done."""
    count = len(data[split]) if limit is None else min(limit, len(data[split]))
    prompts = [data.prompt(split, index) for index in range(count)]
    order = sorted(range(count), key=lambda index: len(prompts[index]))
    summaries = [""] * count
    with evaluating(model):
        for start in range(0, count, batch_size):
            rows = order[start : start + batch_size]
            prompts_here = [prompts[i] for i in rows]
            outputs = generate_batch(
                model, prompts_here, max_new_tokens, EOS_ID, PAD_ID, no_repeat_ngram
            )
            for index, ids in zip(rows, outputs, strict=True):
                summaries[index] = data.decode(ids.tolist())
    return summaries


def save_model(model: DecoderOnlyLM, name: str = "summarizer") -> None:
    """Keep a trained summariser for a later notebook (05 -> 05b), in the course cache, with the
    version of the data it was trained on."""
    save_checkpoint(name, model, model.config, summarization_data.DATASET_VERSION)


def load_model(name: str = "summarizer", device=None) -> DecoderOnlyLM | None:
    """A model kept by `save_model`, or None when none was saved for this version of the data."""
    checkpoint = load_checkpoint(name, summarization_data.DATASET_VERSION)
    if checkpoint is None:
        return None
    model = DecoderOnlyLM(**checkpoint["config"])
    model.load_state_dict(checkpoint["state"])
    return model.to(device or "cpu").eval()
