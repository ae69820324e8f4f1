"""Checks for notebook 05 (a decoder-only summariser): the loss mask over the summary's tokens
and the greedy generation loop."""

from __future__ import annotations

import torch
from torch import nn

from .. import decoder_only as reference
from .framework import (
    Case,
    CheckFailed,
    Mistake,
    call_learner,
    passed,
    require_function,
    run_cases,
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
    whole=True,
    last=True,
    with_prompt=False,
    steps_offset=0,
):
    """Generation with one knob turned: the catalogue of mistakes below."""
    ids = prompt
    for _ in range(max_new_tokens + steps_offset):
        context = ids if whole else ids[-1:]
        logits = model(context[None])[0, -1 if last else 0]
        next_id = logits.argmax()
        if stop and next_id.item() == eos_id:
            if keep_eos:
                ids = torch.cat([ids, next_id[None]])
            break
        ids = torch.cat([ids, next_id[None]])
    return ids if with_prompt else ids[len(prompt) :]


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
        lambda *a: _continue(*a, whole=False),
    ),
    Mistake(
        "off by one: at most max_new_tokens new tokens, and no fewer when <eos> never comes",
        lambda *a: _continue(*a, steps_offset=-1),
    ),
    Mistake(
        "off by one: at most max_new_tokens new tokens, not one more",
        lambda *a: _continue(*a, steps_offset=1),
    ),
]

GENERATE_CASES = [  # (prompt, max_new_tokens, eos_id): both endings, <eos> and the length limit
    ([4, 9, 1], 8, 2),
    ([3, 3], 6, 10),
    ([7], 5, 8),
    ([5, 0, 6, 1], 10, 2),
    ([2, 8, 1], 3, 9),
    ([6, 6, 6, 1], 12, 4),
]


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
    """Greedy decoding gives the same output every time; sampling does not."""
    signature = "generate(model, prompt, max_new_tokens, eos_id)"
    outputs = [call_learner(fn, "generate", case, signature) for _ in range(4)]
    tensors = [o for o in outputs if isinstance(o, torch.Tensor)]
    if len(tensors) == len(outputs) and any(
        o.shape != tensors[0].shape or not torch.equal(o, tensors[0]) for o in tensors
    ):
        raise CheckFailed(
            f"generate({case.describe()}) gave different tokens on different calls: greedy "
            "decoding takes the most likely token (argmax), it does not sample"
        )
