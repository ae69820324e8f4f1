"""Checks for notebook 05 (a decoder-only summariser): the loss mask over the summary's tokens,
the greedy generation loop, the GPT block (against the course's, with its weights) and sampling
with temperature and top-k (statistical)."""

from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from .. import decoder_only as reference
from ..attention import causal_mask
from .framework import (
    Built,
    Case,
    CheckFailed,
    Mistake,
    call_learner,
    call_plainly,
    passed,
    recognises,
    require_function,
    run_cases,
    run_module_cases,
    swapped_submodules,
    with_knobs,
)


def _after_sep(ids, sep_id):
    return (ids == sep_id).int().cumsum(dim=1) > 0  # True from <sep> on


def _one_early(mask):
    return torch.cat([mask[:, 1:], torch.zeros_like(mask[:, :1])], dim=1)


def _one_late(mask):
    return torch.cat([torch.zeros_like(mask[:, :1]), mask[:, :-1]], dim=1) & mask


LOSS_MASK_MISTAKES = [
    Mistake(
        "the mask covers the article too: only the tokens after <sep> (the summary and its "
        "<eos>) should count",
        lambda ids, sep_id, pad_id: ids != pad_id,
    ),
    Mistake(
        "<sep> itself is in the mask: it belongs to the prompt, the summary starts after it",
        lambda ids, sep_id, pad_id: _after_sep(ids, sep_id) & (ids != pad_id),
    ),
    Mistake(
        "padding is in the mask: leave out the positions where ids == pad_id",
        lambda ids, sep_id, pad_id: _after_sep(ids, sep_id) & (ids != sep_id),
    ),
    Mistake(
        "the mask is off by one: it starts one token late, so the summary's first token does not "
        "count",
        lambda ids, sep_id, pad_id: _one_late(reference.summary_loss_mask(ids, sep_id, pad_id)),
    ),
    Mistake(
        "the mask is the wrong way round: True should mark the summary (after <sep>), not the "
        "article",
        lambda ids, sep_id, pad_id: ~_after_sep(ids, sep_id) & (ids != pad_id),
    ),
    Mistake(
        "the mask is one position early: it marks <sep> and misses the final <eos>. Mark the "
        "summary tokens themselves; the shift to the targets comes later (mask[:, 1:])",
        lambda ids, sep_id, pad_id: _one_early(reference.summary_loss_mask(ids, sep_id, pad_id)),
    ),
]


# Checked first: with the usual ids (1 and 0) these give the right answer, so they only show on the
# case that uses other ids, where they would otherwise look like the mistakes above.
HARD_CODED_ID_MISTAKES = [
    Mistake(
        "use the sep_id and pad_id arguments rather than the numbers 1 and 0",
        lambda ids, sep_id, pad_id: reference.summary_loss_mask(ids, 1, 0),
    ),
    Mistake(
        "use the pad_id argument rather than the number 0",
        lambda ids, sep_id, pad_id: reference.summary_loss_mask(ids, sep_id, 0),
    ),
    Mistake(
        "use the sep_id argument rather than the number 1",
        lambda ids, sep_id, pad_id: reference.summary_loss_mask(ids, 1, pad_id),
    ),
]


def _sequence(article, summary, padding, sep_id, eos_id, pad_id):
    return [*article, sep_id, *summary, eos_id] + [pad_id] * padding


def _random_ids(generator, most: int) -> list[int]:
    """Between 1 and `most` ordinary token ids (10-19)."""
    count = int(torch.randint(1, most + 1, (), generator=generator))
    return torch.randint(10, 20, (count,), generator=generator).tolist()


def _loss_mask_cases() -> list[Case]:
    generator = torch.Generator().manual_seed(5)
    cases = []
    for rows, sep_id, eos_id, pad_id in [(2, 1, 2, 0), (3, 1, 2, 0), (1, 1, 2, 0), (3, 5, 6, 9)]:
        sequences = []
        for _ in range(rows):
            article, summary = _random_ids(generator, 5), _random_ids(generator, 3)
            if sep_id != 1:  # ordinary tokens 1 (in the article) and 0 (in the summary) catch
                article, summary = [1, *article], [0, *summary]  # hard-coded ids
            sequences.append((article, summary))
        longest = max(len(a) + len(s) + 2 for a, s in sequences)
        ids = torch.tensor(
            [
                _sequence(a, s, longest - len(a) - len(s) - 2, sep_id, eos_id, pad_id)
                for a, s in sequences
            ]
        )
        cases.append(Case((ids, sep_id, pad_id)))
    return cases


@recognises(HARD_CODED_ID_MISTAKES, LOSS_MASK_MISTAKES)
def summary_loss_mask(learner_fn) -> None:
    """Check `summary_loss_mask(ids, sep_id, pad_id) -> (batch, seq)` bool."""
    fn = require_function(learner_fn, "summary_loss_mask")
    cases = _loss_mask_cases()
    run_cases(
        "summary_loss_mask",
        fn,
        reference.summary_loss_mask,
        cases,
        signature="summary_loss_mask(ids, sep_id, pad_id)",
        mistakes=[*HARD_CODED_ID_MISTAKES, *LOSS_MASK_MISTAKES],
        atol=0,
        rtol=0,
        differentiable=False,
        dtype_advice="return a boolean tensor (True = the token counts in the loss)",
    )
    passed("summary_loss_mask", f"correct on {len(cases)} batches")


class ScriptedLM(nn.Module):
    """A stand-in language model for checking generation loops: its favourite next token depends
    on the whole sequence so far (3 x the sum of the ids + 7 x the length, modulo the vocabulary).
    Takes ids (batch, seq) and returns logits (batch, seq, vocab), like the course's models."""

    def __init__(self, vocab_size: int = 11):
        super().__init__()
        self.vocab_size = vocab_size
        # unused, but lets `next(model.parameters()).device` work as on a real model
        self.anchor = nn.Parameter(torch.zeros(1), requires_grad=False)

    def extra_repr(self) -> str:
        return f"vocab_size={self.vocab_size}"

    def forward(self, ids):
        if not isinstance(ids, torch.Tensor) or ids.dim() != 2:
            shape = tuple(ids.shape) if isinstance(ids, torch.Tensor) else type(ids).__name__
            raise ValueError(
                f"the model takes a batch of ids of shape (batch, seq) and got {shape}; for one "
                "sequence call model(ids[None])"
            )
        sums = ids.cumsum(dim=1)  # (batch, seq): sum of the ids up to each position
        lengths = torch.arange(1, ids.shape[1] + 1, device=ids.device)
        favourite = (3 * sums + 7 * lengths) % self.vocab_size
        # a margin of 1: the favourite gets only about 21% of the probability, so a loop that
        # samples instead of taking the argmax is caught
        return nn.functional.one_hot(favourite, self.vocab_size).float()


def _continue(
    model,
    prompt,
    max_new_tokens,
    eos_id,
    *,
    stop=True,
    keep_eos=False,
    context="whole",
    last=True,
    with_prompt=False,
    steps_offset=0,
    prompt_counts=False,
    sample=False,
    batched=True,
    unsqueezed=True,
    as_list=False,
):
    """Generation with one knob turned: the catalogue of mistakes below."""
    ids = prompt
    steps = max_new_tokens + steps_offset - (len(prompt) if prompt_counts else 0)
    for _ in range(steps):
        seen = {"whole": ids, "last token": ids[-1:], "prompt": prompt}[context]
        logits = (model(seen[None])[0] if batched else model(seen))[-1 if last else 0]
        next_id = torch.multinomial(logits.softmax(-1), 1)[0] if sample else logits.argmax()
        if stop and next_id.item() == eos_id:
            if keep_eos:
                ids = torch.cat([ids, next_id[None]])
            break
        ids = torch.cat([ids, next_id[None] if unsqueezed else next_id])
    new = ids if with_prompt else ids[len(prompt) :]
    return new.tolist() if as_list else new


SAMPLES = "greedy decoding takes the most likely token (argmax), it does not sample"
RETURNS_LIST = (
    "return the new ids as one tensor: grow a tensor with torch.cat and return ids[len(prompt):], "
    "or convert at the end, torch.tensor(new_ids)"
)

GENERATE_MISTAKES = [
    Mistake(
        "generation does not stop at <eos>: when the model's next token is eos_id, stop",
        lambda *a: _continue(*a, stop=False),
    ),
    Mistake(
        "the <eos> token is in the output: stop before appending it",
        lambda *a: _continue(*a, keep_eos=True),
    ),
    Mistake(
        "the prompt is in the output: return only the new tokens (ids[len(prompt):])",
        lambda *a: _continue(*a, with_prompt=True),
    ),
    Mistake(
        "the next token comes from the last position's logits (logits[0, -1]), not the first",
        lambda *a: _continue(*a, last=False),
    ),
    Mistake(
        "feed the model the whole sequence so far, not only the last token: it has no memory "
        "between calls",
        lambda *a: _continue(*a, context="last token"),
    ),
    Mistake(
        "off by one: at most max_new_tokens new tokens, and no fewer when <eos> never comes",
        lambda *a: _continue(*a, steps_offset=-1),
    ),
    Mistake(
        "off by one: at most max_new_tokens new tokens, not one more",
        lambda *a: _continue(*a, steps_offset=1),
    ),
    Mistake(
        "the model reads the prompt alone at every step: feed it the prompt AND the tokens "
        "generated so far (the growing ids)",
        lambda *a: _continue(*a, context="prompt"),
    ),
    Mistake(
        "max_new_tokens counts the new tokens only, not the prompt's: take up to max_new_tokens "
        "steps whatever the prompt's length",
        lambda *a: _continue(*a, prompt_counts=True),
    ),
    Mistake(
        "the model takes a batch of sequences (batch, seq): call it on ids[None] and read row 0, "
        "model(ids[None])[0, -1]",
        lambda *a: _continue(*a, batched=False),
    ),
    Mistake(
        "argmax() gives a 0-dimensional tensor, which torch.cat cannot join: give it an axis, "
        "torch.cat([ids, next_id[None]])",
        lambda *a: _continue(*a, unsqueezed=False),
    ),
    Mistake(SAMPLES, lambda *a: _continue(*a, sample=True)),
    Mistake(RETURNS_LIST, lambda *a: _continue(*a, as_list=True)),
]

GENERATE_CASES = [  # (prompt, max_new_tokens, eos_id): both endings, <eos> and the length limit
    ([5, 0, 6, 1], 10, 2),  # first: it tells the most mistakes apart
    ([4, 9, 1], 8, 2),
    ([3, 3], 6, 10),
    ([7], 5, 8),
    ([2, 8, 1], 3, 9),
    ([6, 6, 6, 1], 12, 4),
]


@recognises(GENERATE_MISTAKES)
def generate(learner_fn) -> None:
    """Check `generate(model, prompt, max_new_tokens, eos_id) -> new token ids (n,)` on a
    scripted stand-in model (`ScriptedLM`)."""
    fn = require_function(learner_fn, "generate")
    model = ScriptedLM()
    cases = [
        Case((model, torch.tensor(prompt), limit, eos_id))
        for prompt, limit, eos_id in GENERATE_CASES
    ]
    _require_deterministic(fn, cases[0])
    run_cases(
        "generate",
        fn,
        reference.generate,
        cases,
        signature="generate(model, prompt, max_new_tokens, eos_id)",
        mistakes=GENERATE_MISTAKES,
        atol=0,
        rtol=0,
        differentiable=False,
        dtype_advice="return the token ids as an integer tensor",
    )
    passed("generate", f"correct on {len(cases)} prompts, stopping at <eos> and at the limit")


def _require_deterministic(fn, case: Case) -> None:
    """Greedy decoding gives the same output every time; sampling does not. Each call starts
    from its own seed of torch's global random state (restored afterwards), so that a loop that
    samples is caught every time. An error is left to `run_cases`, which names it."""
    signature = "generate(model, prompt, max_new_tokens, eos_id)"
    outputs = []
    try:
        for seed in range(4):
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                outputs.append(call_learner(fn, "generate", case, signature))
    except CheckFailed:
        return
    where = f"generate({case.describe()})"
    if all(isinstance(o, list) for o in outputs):
        raise CheckFailed(f"{where} returned a list: {RETURNS_LIST}")
    tensors = [o for o in outputs if isinstance(o, torch.Tensor)]
    if len(tensors) == len(outputs) and any(
        o.shape != tensors[0].shape or not torch.equal(o, tensors[0]) for o in tensors
    ):
        raise CheckFailed(f"{where} gave different tokens on different calls: {SAMPLES}")


# --- the GPT block ------------------------------------------------------------------------------


class _BlockWith(reference.GPTBlock):
    """The course's GPT block written out, with one knob turned."""

    knobs: dict = {}

    def forward(self, x, mask=None):
        knobs, seq = self.knobs, x.shape[1]
        mask = {
            "causal": causal_mask(seq),
            "none": torch.ones(seq, seq, dtype=torch.bool),
            "transposed": causal_mask(seq).T,
        }[knobs.get("mask", "causal")]
        ff = self.feed_forward
        activation = F.gelu if knobs.get("gelu") else F.relu

        def attend(y):
            return self.self_attention(y, y, y, mask)[0]

        def feed_forward(y):
            return ff.linear2(ff.dropout(activation(ff.linear1(y))))

        norms = (self.norm1, self.norm1 if knobs.get("one_norm") else self.norm2)
        for sublayer, norm, dropout in zip(
            (attend, feed_forward), norms, (self.dropout1, self.dropout2), strict=True
        ):
            if knobs.get("dropout") == "functional":  # F.dropout's training=True by default
                dropout = partial(F.dropout, p=dropout.p)
            elif knobs.get("dropout") == "missing":
                dropout = nn.Identity()
            if knobs.get("post_norm"):
                x = norm(x + dropout(sublayer(x)))
                continue
            y = norm(x)
            residual = y if knobs.get("normalised_residual") else x
            if sublayer is feed_forward and knobs.get("no_ff_residual"):
                residual = 0
            x = residual + dropout(sublayer(y))
        return x


GPT_BLOCK_MISTAKES = [
    Mistake(
        "there is no causal mask: every position sees the tokens after it, which a language model "
        "must predict. Pass causal_mask(seq_len) to the self-attention",
        with_knobs(_BlockWith, mask="none"),
    ),
    Mistake(
        "the causal mask is transposed: True where the key comes after the query. A position may "
        "attend to itself and the positions before it (the lower triangle)",
        with_knobs(_BlockWith, mask="transposed"),
    ),
    Mistake(
        "this is post-norm: a GPT block normalises before each sublayer, x + "
        "dropout(sublayer(norm(x)))",
        with_knobs(_BlockWith, post_norm=True),
    ),
    Mistake(
        "the residual adds the input x itself, not norm(x): x + dropout(sublayer(norm(x)))",
        with_knobs(_BlockWith, normalised_residual=True),
    ),
    Mistake(
        "dropout is active in evaluation (F.dropout defaults to training=True): use the "
        "nn.Dropout modules dropout1 and dropout2, which model.eval() switches off",
        with_knobs(_BlockWith, dropout="functional"),
    ),
    Mistake(
        "the dropout on the sublayers' outputs is missing: x + dropout1(attention(norm1(x))), "
        "then x + dropout2(feed_forward(norm2(x))) (the check compares in training mode too, "
        "with the same random draws)",
        with_knobs(_BlockWith, dropout="missing"),
    ),
    Mistake(
        "the feed-forward network has no residual connection: x + dropout2(feed_forward(norm2(x)))",
        with_knobs(_BlockWith, no_ff_residual=True),
    ),
    Mistake(
        "norm1 is used before both sublayers: each has its own LayerNorm, norm1 before the "
        "attention and norm2 before the feed-forward network",
        with_knobs(_BlockWith, one_norm=True),
    ),
    *swapped_submodules(reference.GPTBlock, ("norm1", "norm2")),
    Mistake(
        "the feed-forward network uses GELU: the course's GPT block keeps notebook 04's ReLU "
        "(GPT-2 itself uses GELU)",
        with_knobs(_BlockWith, gelu=True),
    ),
]


@recognises(GPT_BLOCK_MISTAKES)
def gpt_block(learner_class, *, seed: int = 0) -> None:
    """Check the learner's `GPTBlock(d_model, num_heads, d_ff, dropout)` against the course's
    (the blocks of `DecoderOnlyLM`, itself equal to torch.nn's layers with a causal mask)."""
    generator = torch.Generator().manual_seed(seed)
    cases = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for training in (False, True):
            block = reference.GPTBlock(16, 4, 32, dropout=0.3)
            for norm in (block.norm1, block.norm2):  # unlike at initialisation, tell them apart
                nn.init.normal_(norm.weight, 1.0, 0.5)
                nn.init.normal_(norm.bias, 0.0, 0.5)
            built = Built(block, (16, 4, 32), {"dropout": 0.3}, training=training, seed=seed)
            cases.append(Case((built, torch.randn(2, 6, 16, generator=generator))))
    run_module_cases(
        "GPTBlock",
        learner_class,
        cases,
        signature="GPTBlock(d_model, num_heads, d_ff, dropout), forward(x)",
        mistakes=GPT_BLOCK_MISTAKES,
        atol=1e-5,
        rtol=1e-5,
    )
    passed("GPTBlock", f"matches the course's block with its weights on {len(cases)} cases")


# --- the whole model ------------------------------------------------------------------------------

GPT_SIGNATURE = (
    "GPT(vocab_size, d_model, num_heads, num_layers, d_ff, dropout, max_len, pad_id), "
    "forward(ids) -> logits"
)


class _ModelWith(reference.DecoderOnlyLM):
    """The course's model, its forward pass written out with one knob turned."""

    knobs: dict = {}

    def forward(self, ids, padding=None, positions=None):
        knobs, seq = self.knobs, ids.shape[1]
        x = self.embedding(ids)
        if knobs.get("dropout") == "before positions":
            x = self.dropout(x)
        positions = {
            "place": self.positions[:seq],
            "from 1": self.positions[1 : seq + 1],
            "ids": self.positions[ids],
            None: 0,
        }[knobs.get("positions", "place")]
        x = x + positions
        if knobs.get("dropout", "after positions") == "after positions":
            x = self.dropout(x)
        mask = causal_mask(seq, device=ids.device)
        if knobs.get("mask") == "transposed":
            mask = mask.T
        embedded = x
        for layer in self.layers:  # unchained: every block reads the embeddings
            x = layer(embedded if knobs.get("unchained") else x, mask)
        if knobs.get("norm", True):
            x = self.norm(x)
        logits = self.head(x)
        return logits.softmax(dim=-1) if knobs.get("softmax") else logits


def _model_with(**knobs) -> type:
    return with_knobs(_ModelWith, **knobs)


GPT_MISTAKES = [
    Mistake(
        "the positions are missing: add self.positions[:seq_len] (seq_len, d_model) to the token "
        "embeddings, or the model cannot tell the first token from the last",
        _model_with(positions=None),
    ),
    Mistake(
        "the positions are looked up by token id: a token's position is its place in the "
        "sequence, 0 ... seq_len - 1, so add self.positions[:seq_len]",
        _model_with(positions="ids"),
    ),
    Mistake(
        "the final LayerNorm is missing: pre-norm blocks leave their output unnormalised, so "
        "apply self.norm before the output layer",
        _model_with(norm=False),
    ),
    Mistake(
        "there is no dropout on the embeddings: apply self.dropout to embeddings + positions "
        "(in training mode the check draws the same dropout masks as the course's model)",
        _model_with(dropout=None),
    ),
    Mistake(
        "the causal mask is transposed: True where the key comes after the query. A position may "
        "attend to itself and the positions before it (the lower triangle)",
        _model_with(mask="transposed"),
    ),
    Mistake(
        "the positions start at 1: the first token is at position 0, so add "
        "self.positions[:seq_len]",
        _model_with(positions="from 1"),
    ),
    Mistake(
        "every block reads the embeddings: each block takes the previous block's output, "
        "x = layer(x) in the loop",
        _model_with(unchained=True),
    ),
    Mistake(
        "the output is softmaxed: return the raw logits; the loss and sampling apply the "
        "softmax themselves",
        _model_with(softmax=True),
    ),
    Mistake(
        "dropout comes after the positions are added: dropout(embeddings + positions)",
        _model_with(dropout="before positions"),
    ),
]


@recognises(GPT_MISTAKES)
def gpt_model(learner_class, *, seed: int = 0) -> None:
    """Check the learner's `GPT` (embedding, positions, GPT blocks, final norm, output layer)
    against the course's `DecoderOnlyLM` with copied weights, in evaluation and training mode."""
    generator = torch.Generator().manual_seed(seed)
    sizes = {
        "d_model": 16,
        "num_heads": 4,
        "num_layers": 2,
        "d_ff": 32,
        "dropout": 0.2,
        "max_len": 48,
        "pad_id": 0,
    }
    cases = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for training, length in ((False, 7), (False, 12), (True, 9)):
            model = reference.DecoderOnlyLM(40, **sizes)
            built = Built(model, (40,), dict(sizes), training=training, seed=seed)
            cases.append(Case((built, torch.randint(1, 40, (2, length), generator=generator))))
    run_module_cases(
        "GPT",
        learner_class,
        cases,
        signature=GPT_SIGNATURE,
        mistakes=GPT_MISTAKES,
        atol=1e-5,
        rtol=1e-5,
    )
    passed(
        "GPT", f"its logits match the course's DecoderOnlyLM with its weights on {len(cases)} cases"
    )


# --- sampling ------------------------------------------------------------------------------------

SAMPLE_SIGNATURE = "sample_next_token(logits, temperature, top_k, generator)"
TOP_P_SIGNATURE = "sample_top_p(logits, p, generator)"
DRAWS = 20_000  # per row: frequencies within 0.015 of the truth (about 3.5 standard deviations)
FREQUENCY_TOLERANCE = 0.015

# What the sampling checks say about each mistake they recognise (the catalogues plant them).
NOT_PROBABILITIES = (
    "torch.multinomial takes probabilities, which are never negative: apply the softmax (to "
    "logits / temperature) first"
)
UNSQUEEZED = "torch.multinomial(probabilities, 1) gives (batch, 1): squeeze(-1) to return (batch,)"
BATCH_SOFTMAX = (
    "every token is drawn about equally often: the softmax runs over the batch axis; take it "
    "over the vocabulary, softmax(..., dim=-1)"
)
GLOBAL_GENERATOR = (
    "sampling changed torch's global random state: draw with the `generator` you are given, "
    "torch.multinomial(probabilities, 1, generator=generator)"
)
OWN_GENERATOR = (
    "the draws do not follow the generator: the same generator seed must give the same tokens, "
    "another seed other tokens. Pass generator=generator to torch.multinomial"
)
K_PLUS_ONE = (
    "the k-th largest logit is sorted[..., top_k - 1] (counting from 0), or "
    "logits.topk(top_k).values[..., -1:]: keep the logits >= it"
)
TOP_K_IGNORED = (
    "top_k is not applied: keep only the top_k highest logits, the others set to -inf, before "
    "the softmax"
)
TOP_K_ZEROED = (
    "the logits outside the top k are set to 0, which leaves them a probability: set them to "
    "-inf (masked_fill(..., float('-inf')))"
)
TOP_K = "keep exactly the top_k logits, set the others to -inf"
AFTER_SOFTMAX = (
    "the temperature is applied after the softmax: divide the logits by it first, "
    "softmax(logits / temperature)"
)
MULTIPLIED = (
    "the logits are multiplied by the temperature: divide them, softmax(logits / temperature) (a "
    "temperature above 1 flattens the distribution)"
)
GREEDY = (
    "the most likely token is always drawn: sample from the probabilities (torch.multinomial) "
    "instead of taking the argmax"
)


def _sample(fn, name: str, signature: str, where: str, logits, *args) -> torch.Tensor:
    """The learner's sampler called on `logits` (batch, vocab): one token id per row."""
    try:
        ids = call_plainly(fn, name, where, signature, logits, *args)
    except CheckFailed as failure:
        if "probability tensor contains" in str(failure.__cause__):
            raise CheckFailed(f"{failure} {NOT_PROBABILITIES}") from None
        raise
    batch = logits.shape[0]
    if not isinstance(ids, torch.Tensor) or ids.shape != (batch,):
        got = tuple(ids.shape) if isinstance(ids, torch.Tensor) else type(ids).__name__
        hint = f": {UNSQUEEZED}" if got == (batch, 1) else ""
        raise CheckFailed(
            f"{where} returned {got}: return one token id per row, a tensor of shape "
            f"({batch},){hint}"
        )
    if ids.is_floating_point():
        raise CheckFailed(f"{where} returned floats: return token ids (torch.long)")
    return ids.long()


def _draw(fn, logits, temperature, top_k, seed):
    generator = torch.Generator().manual_seed(seed)
    where = f"sample_next_token(logits {tuple(logits.shape)}, temperature={temperature}, "
    where += f"top_k={top_k}, generator)"
    args = (temperature, top_k, generator)
    return _sample(fn, "sample_next_token", SAMPLE_SIGNATURE, where, logits, *args)


def _frequencies(fn, logits, temperature, top_k, seed) -> torch.Tensor:
    """(vocab,) share of each token over DRAWS calls on one row repeated DRAWS times."""
    ids = _draw(fn, logits.expand(DRAWS, -1).clone(), temperature, top_k, seed)
    return torch.bincount(ids, minlength=logits.shape[-1]).double() / DRAWS


def _expected(logits, temperature, top_k) -> torch.Tensor:
    kept = logits.clone()
    if top_k is not None:
        kept[kept < kept.topk(top_k).values[-1]] = float("-inf")
    return torch.softmax(kept / temperature, dim=-1).double()


def _close(frequencies: torch.Tensor, others: torch.Tensor) -> bool:
    return (frequencies - others).abs().max().item() <= FREQUENCY_TOLERANCE


def _learner_draw(probabilities, generator, knobs: dict, order=None) -> torch.Tensor:
    """The draw that ends a learner's sampler, with the knobs about it: whose generator, the
    rank mapped back to its token (`order`) or not, the result squeezed or not."""
    if knobs.get("generator") == "own":
        generator = torch.Generator().manual_seed(0)
    elif knobs.get("generator") == "global":
        generator = None
    drawn = torch.multinomial(probabilities, 1, generator=generator)
    if order is not None:
        drawn = order.gather(-1, drawn)
    return drawn if knobs.get("unsqueezed") else drawn.squeeze(-1)


def _sampling_with(**knobs):
    """sample_next_token as a learner might write it, with one knob turned: the catalogue."""

    def wrong(logits, temperature=1.0, top_k=None, generator=None):
        if top_k is not None and knobs.get("top_k") != "ignored":
            index = top_k if knobs.get("top_k") == "index k" else top_k - 1
            kth = logits.sort(dim=-1, descending=True).values[..., index : index + 1]
            fill = 0.0 if knobs.get("top_k") == "zeroed" else float("-inf")
            logits = logits.masked_fill(logits < kth, fill)
        if knobs.get("greedy"):
            return logits.argmax(dim=-1)
        if knobs.get("temperature") == "multiplied":
            scaled = logits * temperature
        elif knobs.get("temperature") == "after softmax":
            scaled = logits  # and the probabilities divided by the temperature below
        else:
            scaled = logits / temperature
        if knobs.get("softmax") == "missing":
            probabilities = scaled
        else:
            axis = 0 if knobs.get("softmax") == "batch axis" else -1
            probabilities = torch.softmax(scaled, dim=axis)
        if knobs.get("temperature") == "after softmax":
            probabilities = probabilities / temperature
        return _learner_draw(probabilities, generator, knobs)

    return wrong


SAMPLING_MISTAKES = [
    Mistake(K_PLUS_ONE, _sampling_with(top_k="index k")),
    Mistake(TOP_K_IGNORED, _sampling_with(top_k="ignored")),
    Mistake(TOP_K_ZEROED, _sampling_with(top_k="zeroed")),
    Mistake(AFTER_SOFTMAX, _sampling_with(temperature="after softmax")),
    Mistake(MULTIPLIED, _sampling_with(temperature="multiplied")),
    Mistake(GREEDY, _sampling_with(greedy=True)),
    Mistake(BATCH_SOFTMAX, _sampling_with(softmax="batch axis")),
    Mistake(NOT_PROBABILITIES, _sampling_with(softmax="missing")),
    Mistake(UNSQUEEZED, _sampling_with(unsqueezed=True)),
    Mistake(GLOBAL_GENERATOR, _sampling_with(generator="global")),
    Mistake(OWN_GENERATOR, _sampling_with(generator="own")),
]


@recognises(SAMPLING_MISTAKES)
def sample_next_token(learner_fn, *, seed: int = 0) -> None:
    """Check `sample_next_token(logits, temperature, top_k, generator)` statistically: tokens
    outside the top k are never drawn; the frequencies match softmax(top-k logits / temperature)
    within FREQUENCY_TOLERANCE over DRAWS draws; a temperature near 0 picks the most likely token;
    the draws come from `generator` (the same seed gives the same tokens, another seed other
    tokens, and torch's global random state is left alone)."""
    fn = require_function(learner_fn, "sample_next_token")
    logits = torch.tensor([2.0, 1.0, 0.5, 0.0, -0.5, -1.0, 1.5, 0.2])
    order = logits.argsort(descending=True)
    global_state = torch.get_rng_state()
    for temperature, top_k in ((1.0, None), (0.5, None), (2.0, None), (1.0, 3), (0.7, 5)):
        got = _frequencies(fn, logits, temperature, top_k, seed)
        where = f"temperature={temperature}, top_k={top_k}"
        if top_k is not None:
            outside = order[top_k:]
            if got[outside].sum() > 0:
                drawn = sorted(int(i) for i in outside if got[i] > 0)
                raise CheckFailed(
                    f"with {where}, tokens outside the {top_k} highest scores were drawn "
                    f"(ids {drawn}){_top_k_hint(got, logits, temperature, top_k, order)}"
                )
        expected = _expected(logits, temperature, top_k)
        worst = (got - expected).abs().max().item()
        if worst > FREQUENCY_TOLERANCE:
            raise CheckFailed(_frequency_hint(got, logits, temperature, top_k, where, worst))
    if not torch.equal(torch.get_rng_state(), global_state):
        raise CheckFailed(GLOBAL_GENERATOR)
    batch = logits.expand(64, -1).clone()
    first, again = _draw(fn, batch, 1.0, None, 7), _draw(fn, batch, 1.0, None, 7)
    other = _draw(fn, batch, 1.0, None, 8)
    if not torch.equal(first, again) or torch.equal(first, other):
        raise CheckFailed(OWN_GENERATOR)
    rows = torch.randn(16, 8, generator=torch.Generator().manual_seed(seed))
    if not torch.equal(_draw(fn, rows, 1e-3, None, seed), rows.argmax(-1)):
        raise CheckFailed(
            "with a temperature near 0 the most likely token must be drawn every time (greedy): "
            "divide the logits by the temperature before the softmax, per row"
        )
    passed(
        "sample_next_token",
        f"top-k respected, frequencies within {FREQUENCY_TOLERANCE} of softmax(logits / T) over "
        f"{DRAWS:,} draws, greedy as T -> 0, the generator used",
    )


def _top_k_hint(got, logits, temperature, top_k, order) -> str:
    """The end of the message when tokens outside the top k were drawn: the likely mistake."""
    if got[order[: top_k + 1]].sum() == 1:
        return f" (k + 1 tokens kept?): {K_PLUS_ONE}"
    zeroed = logits.masked_fill(logits < logits.topk(top_k).values[-1], 0.0)
    if _close(got, _expected(logits, temperature, None)):
        return f": {TOP_K_IGNORED}"
    if _close(got, _expected(zeroed, temperature, None)):
        return f": {TOP_K_ZEROED}"
    return f": {TOP_K}"


# --- nucleus (top-p) sampling ---------------------------------------------------------------------


def _nucleus(probabilities: torch.Tensor, p: float, variant: str | None = None) -> torch.Tensor:
    """(vocab,) the distribution top-p sampling draws from, or a mistaken one: the catalogue."""
    if variant == "vocabulary order":
        ranked, order = probabilities, torch.arange(len(probabilities))
    else:
        ranked, order = probabilities.sort(descending=variant != "ascending")
    before = ranked.cumsum(-1) - ranked
    kept = ranked.cumsum(-1) < p if variant == "crossing token dropped" else before < p
    result = torch.zeros_like(probabilities)
    if variant == "rank returned":
        result[: len(ranked)] = torch.where(kept, ranked, 0.0)  # the rank, not the token
    elif variant == "mask unsorted":
        result = torch.where(kept, probabilities, 0.0)  # the sorted cut-off on unsorted tokens
    else:
        result[order] = torch.where(kept, ranked, 0.0)
    return result / result.sum()


TOP_P_MISTAKES = [
    (
        "crossing token dropped",
        "the token that crosses p is dropped: keep a token while the mass of the tokens ranked "
        "above it is below p (cumsum minus itself), so the kept set adds up to at least p",
    ),
    (
        "ascending",
        "the probabilities are sorted in ascending order, so the nucleus holds the least likely "
        "tokens: sort with descending=True",
    ),
    (
        "vocabulary order",
        "the tokens are accumulated in vocabulary order: sort the probabilities in descending "
        "order first, so that the nucleus is made of the most likely tokens",
    ),
    (
        "rank returned",
        "the drawn position in the sorted list is returned, not the token: map it back with the "
        "order the sort gave, order.gather(-1, drawn)",
    ),
]
# every (variant of `_nucleus`, hint) whose frequencies the check recognises
TOP_P_VARIANTS = [
    *TOP_P_MISTAKES,
    (
        "mask unsorted",
        "the cut-off found on the sorted probabilities is applied to the unsorted ones: mask the "
        "sorted probabilities, draw a rank from them, and map it back with order.gather(-1, drawn)",
    ),
]


def _top_p_with(variant: str | None = None, **knobs):
    """sample_top_p as a learner might write it, with a `_nucleus` variant or one knob turned."""

    def wrong(logits, p, generator=None):
        probabilities = torch.softmax(logits, dim=0 if knobs.get("softmax") == "batch axis" else -1)
        if variant == "vocabulary order":
            ranked, order = probabilities, torch.arange(logits.shape[-1]).expand_as(logits)
        else:
            ranked, order = probabilities.sort(dim=-1, descending=variant != "ascending")
        mass = ranked.cumsum(-1)
        dropped = mass >= p if variant == "crossing token dropped" else mass - ranked >= p
        if variant == "mask unsorted":
            return _learner_draw(probabilities.masked_fill(dropped, 0.0), generator, knobs)
        ranks_only = variant == "rank returned"
        return _learner_draw(
            ranked.masked_fill(dropped, 0.0), generator, knobs, None if ranks_only else order
        )

    return wrong


TOP_P_CATALOGUE = [
    *(Mistake(hint, _top_p_with(variant)) for variant, hint in TOP_P_VARIANTS),
    Mistake(BATCH_SOFTMAX, _top_p_with(softmax="batch axis")),
    Mistake(UNSQUEEZED, _top_p_with(unsqueezed=True)),
    Mistake(GLOBAL_GENERATOR, _top_p_with(generator="global")),
    Mistake(OWN_GENERATOR, _top_p_with(generator="own")),
]


@recognises(TOP_P_CATALOGUE)
def sample_top_p(learner_fn, *, seed: int = 0) -> None:
    """Check `sample_top_p(logits, p, generator)` statistically: tokens outside the nucleus are
    never drawn, the frequencies match the renormalised nucleus within FREQUENCY_TOLERANCE over
    DRAWS draws, the draws come from `generator` and leave torch's global random state alone."""
    fn = require_function(learner_fn, "sample_top_p")
    logits = torch.tensor([0.5, 2.0, -1.0, 1.0, 0.0, 1.5, -0.5, 0.2])
    probabilities = torch.softmax(logits, -1).double()
    global_state = torch.get_rng_state()
    for p in (0.5, 0.75, 0.9, 1.0):
        generator = torch.Generator().manual_seed(seed)
        where = f"sample_top_p(logits (8 tokens), p={p}, generator)"
        rows = logits.expand(DRAWS, -1).clone()
        ids = _sample(fn, "sample_top_p", TOP_P_SIGNATURE, where, rows, p, generator)
        got = torch.bincount(ids, minlength=8).double() / DRAWS
        expected = _nucleus(probabilities, p)
        if _close(got, expected):
            continue
        if _close(got, torch.full_like(got, 1 / len(got))):
            raise CheckFailed(f"{where} is wrong: {BATCH_SOFTMAX}.")
        for variant, hint in TOP_P_VARIANTS:
            if _close(got, _nucleus(probabilities, p, variant)):
                raise CheckFailed(f"{where} is wrong: {hint}.")
        outside = [int(i) for i in torch.nonzero((expected == 0) & (got > 0)).flatten()]
        detail = (
            f"tokens outside the nucleus were drawn (ids {outside})"
            if outside
            else ("the frequencies do not match the renormalised nucleus")
        )
        raise CheckFailed(
            f"{where}: {detail}. Frequencies {_rounded(got)}, expected {_rounded(expected)}"
        )
    if not torch.equal(torch.get_rng_state(), global_state):
        raise CheckFailed(GLOBAL_GENERATOR)
    batch = logits.expand(64, -1).clone()
    draws = [fn(batch.clone(), 0.9, torch.Generator().manual_seed(s)) for s in (7, 7, 8)]
    if not torch.equal(draws[0], draws[1]) or torch.equal(draws[0], draws[2]):
        raise CheckFailed(OWN_GENERATOR)
    passed(
        "sample_top_p",
        f"frequencies within {FREQUENCY_TOLERANCE} of the renormalised nucleus over {DRAWS:,} "
        "draws for 4 values of p, the generator used",
    )


def _rounded(values: torch.Tensor) -> str:
    return "[" + ", ".join(f"{v:.3f}" for v in values.tolist()) + "]"


def _frequency_hint(got, logits, temperature, top_k, where, worst) -> str:
    """Name the likely mistake behind frequencies that do not match softmax(logits / T): the
    frequencies of a known mistake that the right ones can be told from."""
    expected = _expected(logits, temperature, top_k)
    candidates = [
        (AFTER_SOFTMAX, _expected(logits, 1.0, top_k)),
        (MULTIPLIED, _expected(logits, 1 / temperature, top_k)),
        (GREEDY, F.one_hot(logits.argmax(), logits.shape[-1]).double()),
        (BATCH_SOFTMAX, torch.full_like(expected, 1 / logits.shape[-1])),
    ]
    for hint, frequencies in candidates:
        if _close(got, frequencies) and not _close(expected, frequencies):
            return f"with {where}: {hint}"
    token = int((got - expected).abs().argmax())
    return (
        f"with {where}, token {token} was drawn {got[token]:.3f} of the time, expected "
        f"{expected[token]:.3f} (softmax of the top-k logits divided by the temperature); the "
        f"largest gap is {worst:.3f}, above the tolerance {FREQUENCY_TOLERANCE}"
    )


# --- n-gram blocking -------------------------------------------------------------------------


def _following(ids: list[int], context: tuple, windows: int | None = None) -> list[int]:
    """The tokens that followed each occurrence of `context` in `ids` among the first `windows`
    places it could start (all of them by default)."""
    size = len(context)
    starts = range(len(ids) - size if windows is None else windows)
    return [ids[i + size] for i in starts if tuple(ids[i : i + size]) == context]


def _last(ids: list[int], count: int) -> tuple:
    return tuple(ids[len(ids) - count :]) if count > 0 else ()


NGRAM_MISTAKES = [
    Mistake(
        "nothing is ever banned: if you compare a slice of the list with the context tuple, they "
        "are never equal; compare tuple(ids[i : i + n - 1]) with it",
        lambda ids, n: [],
    ),
    Mistake(
        "with n = 1 every token written so far is banned (the context is empty; note that "
        "ids[-0:] is the whole list, not an empty one)",
        lambda ids, n: [] if n == 1 else reference.repeated_ngram_tokens(ids, n),
    ),
    Mistake(
        "only windows that end before the context are compared: an earlier occurrence may "
        "overlap the last n - 1 tokens ([4, 4, 4] with n = 3 bans 4)",
        lambda ids, n: _following(ids, _last(ids, n - 1), len(ids) - 2 * (n - 1)),
    ),
    Mistake(
        "the context is the last n tokens: an n-gram is completed by one more token, so match "
        "the last n - 1 tokens against earlier ones and ban what followed them",
        lambda ids, n: _following(ids, _last(ids, n)) if len(ids) >= n else [],
    ),
    Mistake(
        "the context is the last n - 2 tokens (that blocks (n - 1)-grams): match the last n - 1",
        lambda ids, n: _following(ids, _last(ids, n - 2)) if n >= 2 else [],
    ),
    Mistake(
        "the most recent occurrence is missed: the last window to compare ends just before the "
        "last n - 1 tokens, range(len(ids) - n + 1)",
        lambda ids, n: _following(ids, _last(ids, n - 1), len(ids) - n),
    ),
    Mistake(
        "only the first earlier occurrence is used: every earlier occurrence of the last n - 1 "
        "tokens bans the token that followed it",
        lambda ids, n: _following(ids, _last(ids, n - 1))[:1],
    ),
    Mistake(
        "the tokens before each earlier occurrence are banned: ban the token that FOLLOWED it",
        lambda ids, n: [
            ids[i - 1]
            for i in range(1, len(ids) - n + 2)
            if tuple(ids[i : i + n - 1]) == _last(ids, n - 1)
        ],
    ),
    Mistake(
        "every token already written is banned: only the tokens that would complete a repeated "
        "n-gram are",
        lambda ids, n: list(ids),
    ),
]

NGRAM_CASES = [
    ([5, 6, 7, 5, 6], 3),  # the docstring's example: 7 would repeat "5 6 7"
    ([5, 6, 7, 5, 6], 2),  # after 6 came 7
    ([5, 6, 7, 5, 6], 4),  # "5 6 7 ?" never happened after "7 5 6"
    ([4, 4, 4], 2),  # overlapping occurrences
    ([4, 4, 4], 3),
    ([1, 1, 1, 1], 3),
    ([1, 2, 3, 1, 2, 9, 1, 2], 3),  # two earlier occurrences: both followers banned
    ([8, 9], 3),  # fewer than n tokens, no earlier occurrence: nothing banned
    ([], 3),  # nothing written yet
    ([3, 1, 4, 1, 5], 1),  # unigrams: every token written once is banned
    ([7, 3, 7, 3, 7, 3, 2, 7, 3], 3),
    ([2, 5, 2, 5, 2], 2),
]


def _banned_set(got, where: str) -> set[int]:
    if isinstance(got, torch.Tensor):
        got = got.tolist()
    try:
        return {int(token) for token in got}
    except (TypeError, ValueError):
        raise CheckFailed(
            f"{where} returned {type(got).__name__}: return a list of token ids"
        ) from None


def _variant_sets(implementation) -> list[set[int]] | None:
    """A mistake's answers on every case (None if it cannot handle one of them)."""
    try:
        return [{int(t) for t in implementation(list(ids), n)} for ids, n in NGRAM_CASES]
    except Exception:
        return None


@recognises(NGRAM_MISTAKES)
def repeated_ngram_tokens(learner_fn) -> None:
    """Check `repeated_ngram_tokens(ids, n) -> list[int]`: the tokens that would complete an
    n-gram already in `ids` (compared as sets: order and repeats do not matter). A wrong answer is
    matched against the likely mistakes on every case at once, so that a hint is given only for
    a mistake that behaves like the learner's function everywhere."""
    fn = require_function(learner_fn, "repeated_ngram_tokens")
    signature = "repeated_ngram_tokens(ids, n)"
    answers = []
    for ids, n in NGRAM_CASES:
        where = f"repeated_ngram_tokens({ids}, n={n})"
        got = call_plainly(fn, "repeated_ngram_tokens", where, signature, list(ids), n)
        answers.append(_banned_set(got, where))
    expected = [set(reference.repeated_ngram_tokens(list(ids), n)) for ids, n in NGRAM_CASES]
    wrong = [
        i for i, (got, right) in enumerate(zip(answers, expected, strict=True)) if got != right
    ]
    if not wrong:
        passed("repeated_ngram_tokens", f"the right tokens banned in {len(NGRAM_CASES)} cases")
        return
    ids, n = NGRAM_CASES[wrong[0]]
    where = f"repeated_ngram_tokens({ids}, n={n})"
    got = sorted(answers[wrong[0]])
    for mistake in NGRAM_MISTAKES:
        if _variant_sets(mistake.wrong_implementation) == answers:
            raise CheckFailed(f"{where} returned {got}: {mistake.hint}.")
    raise CheckFailed(
        f"{where} returned {got}, expected {sorted(expected[wrong[0]])}: the tokens that "
        f"followed each earlier occurrence of the last n - 1 tokens {list(_last(ids, n - 1))} "
        f"(wrong on {len(wrong)} of {len(NGRAM_CASES)} cases)"
    )


# --- the loss, on the summary or on every token ------------------------------------------------


def _counts(ids, sep_id, pad_id, weighted):
    if weighted:
        return reference.summary_loss_mask(ids, sep_id, pad_id)[:, 1:]
    return ids[:, 1:] != pad_id


def _loss_unshifted(model, batch, sep_id, weighted=True):
    ids = batch.ids
    counts = _counts(ids, sep_id, model.pad_id, weighted)
    return F.cross_entropy(model(ids[:, :-1])[counts], ids[:, :-1][counts])


def _loss_mask_of_inputs(model, batch, sep_id, weighted=True):
    ids = batch.ids
    if weighted:
        counts = reference.summary_loss_mask(ids, sep_id, model.pad_id)[:, :-1]
    else:
        counts = ids[:, :-1] != model.pad_id
    return F.cross_entropy(model(ids[:, :-1])[counts], ids[:, 1:][counts])


def _loss_counting_pads(model, batch, sep_id, weighted=True):
    if weighted:
        return reference.summarizer_loss(model, batch, sep_id, weighted=True)
    ids = batch.ids
    logits = model(ids[:, :-1])
    return F.cross_entropy(logits.flatten(0, 1), ids[:, 1:].flatten())


def _loss_over_every_position(model, batch, sep_id, weighted=True):
    ids = batch.ids
    counts = _counts(ids, sep_id, model.pad_id, weighted)
    losses = F.cross_entropy(model(ids[:, :-1]).transpose(1, 2), ids[:, 1:], reduction="none")
    return (losses * counts).sum() / counts.numel()


def _loss_summed(model, batch, sep_id, weighted=True):
    ids = batch.ids
    counts = _counts(ids, sep_id, model.pad_id, weighted)
    return F.cross_entropy(model(ids[:, :-1])[counts], ids[:, 1:][counts], reduction="sum")


def _loss_flag_inverted(model, batch, sep_id, weighted=True):
    return reference.summarizer_loss(model, batch, sep_id, weighted=not weighted)


def _loss_with_ids(sep_id_used, pad_id_used):
    def loss(model, batch, sep_id, weighted=True):
        ids = batch.ids
        sep = sep_id if sep_id_used is None else sep_id_used
        pad = model.pad_id if pad_id_used is None else pad_id_used
        counts = _counts(ids, sep, pad, weighted)
        return F.cross_entropy(model(ids[:, :-1])[counts], ids[:, 1:][counts])

    return loss


SUMMARIZER_LOSS_MISTAKES = [
    Mistake(
        "use the sep_id argument rather than the number 1",
        _loss_with_ids(1, None),
    ),
    Mistake(
        "use the model's padding id (model.pad_id) rather than the number 0",
        _loss_with_ids(None, 0),
    ),
    Mistake(
        "the targets are not shifted: position t is scored against the token at t, but its "
        "logits predict the token at t + 1. Inputs ids[:, :-1], targets ids[:, 1:]",
        _loss_unshifted,
    ),
    Mistake(
        "the mask goes with the inputs, not the targets: the loss at position t is about target "
        "t (token t + 1), so use mask[:, 1:]",
        _loss_mask_of_inputs,
    ),
    Mistake(
        "padding is counted in the every-token loss: count the targets that are not pad_id",
        _loss_counting_pads,
    ),
    Mistake(
        "the loss is averaged over every position, the uncounted ones as zeros: average over "
        "the counted tokens only (select them, then cross_entropy's mean)",
        _loss_over_every_position,
    ),
    Mistake(
        "the loss is a sum: take the mean over the counted tokens (cross_entropy's default)",
        _loss_summed,
    ),
    Mistake(
        "weighted is ignored: with weighted=False every real token counts, not only the summary's",
        lambda model, batch, sep_id, weighted=True: reference.summarizer_loss(
            model, batch, sep_id, weighted=True
        ),
    ),
    Mistake(
        "weighted is the wrong way round: weighted=True counts the summary's tokens only, "
        "weighted=False every real token",
        _loss_flag_inverted,
    ),
]


def _summarizer_cases() -> list[Case]:
    cases = []
    generator = torch.Generator().manual_seed(11)
    for weighted in (True, False):
        for sep_id, eos_id, pad_id in [(1, 2, 0), (5, 6, 9)]:
            torch.manual_seed(3 + sep_id)
            model = reference.DecoderOnlyLM(
                20, d_model=16, num_heads=2, num_layers=1, d_ff=32, dropout=0.0, pad_id=pad_id
            ).eval()
            rows = [(_random_ids(generator, 6), _random_ids(generator, 4)) for _ in range(3)]
            longest = max(len(a) + len(s) + 2 for a, s in rows)
            ids = torch.tensor(
                [
                    _sequence(a, s, longest - len(a) - len(s) - 2, sep_id, eos_id, pad_id)
                    for a, s in rows
                ]
            )
            batch = reference.summarization_data.SummaryBatch(ids)
            label = (
                f"a 1-layer model, a batch of 3 padded sequences (sep_id={sep_id}, "
                f"pad_id={pad_id}), weighted={weighted}"
            )
            cases.append(Case((model, batch, sep_id), {"weighted": weighted}, label=label))
    return cases


@recognises(SUMMARIZER_LOSS_MISTAKES)
def summarizer_loss(learner_fn) -> None:
    """Check `summarizer_loss(model, batch, sep_id, weighted=True)` against the course's, on a
    small model (eval mode, no dropout), both settings of `weighted`, two sets of special ids."""
    fn = require_function(learner_fn, "summarizer_loss")
    cases = _summarizer_cases()
    run_cases(
        "summarizer_loss",
        fn,
        reference.summarizer_loss,
        cases,
        signature="summarizer_loss(model, batch, sep_id, weighted=True)",
        mistakes=SUMMARIZER_LOSS_MISTAKES,
        atol=1e-5,
        rtol=1e-5,
    )
    passed("summarizer_loss", f"equal to the course's loss on {len(cases)} batches")
