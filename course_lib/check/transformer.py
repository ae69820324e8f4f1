"""Checks for notebook 04 (the Transformer): positional encoding, the decoder's self-attention
mask, one step of beam search, and the length-normalised score of a finished hypothesis."""

from __future__ import annotations

import torch

from .. import transformer as reference
from ..attention import causal_mask, padding_mask
from .framework import Case, Mistake, passed, require_function, run_cases


def _encoding(
    max_len,
    d_model,
    *,
    base=10000.0,
    swap=False,
    exponent="2i",
    interleave=True,
    start=0,
    cosine_own_frequency=False,
):
    """Positional encoding with one knob turned: the catalogue of mistakes below."""
    positions = torch.arange(start, start + max_len, dtype=torch.float32)[:, None]
    i = torch.arange(0, d_model, 2, dtype=torch.float32)  # the even indices 2i
    if exponent == "i":
        i = i / 2
    if exponent == "4i":  # 2 * (2i): the 2 written twice
        i = i * 2
    angles = positions * base ** (-i / d_model)
    first, second = (torch.cos, torch.sin) if swap else (torch.sin, torch.cos)
    if not interleave:  # all sines, then all cosines
        return torch.cat([first(angles), second(angles)], dim=-1)
    encoding = torch.zeros(max_len, d_model)
    encoding[:, 0::2] = first(angles)
    if cosine_own_frequency:  # feature 2i + 1 with exponent (2i + 1) / d_model
        odd = torch.arange(1, d_model, 2, dtype=torch.float32)
        encoding[:, 1::2] = second(positions * base ** (-odd / d_model))
    else:
        encoding[:, 1::2] = second(angles)
    return encoding


ENCODING_MISTAKES = [
    Mistake(
        "sine and cosine are swapped: even features use sin, odd features use cos",
        lambda n, d: _encoding(n, d, swap=True),
    ),
    Mistake(
        "the frequency base is 10000: frequencies are 10000^(-2i / d_model)",
        lambda n, d: _encoding(n, d, base=1000.0),
    ),
    Mistake(
        "the frequency base is 10000, not e: use 10000 ** (-2i / d_model)",
        lambda n, d: _encoding(n, d, base=float(torch.e)),
    ),
    Mistake(
        "the exponent is 2i / d_model, where 2i is the even feature index (0, 2, 4, ...); "
        "you used i / d_model",
        lambda n, d: _encoding(n, d, exponent="i"),
    ),
    Mistake(
        "sines and cosines must alternate (feature 2i is a sine, 2i + 1 its cosine), not "
        "come in two halves",
        lambda n, d: _encoding(n, d, interleave=False),
    ),
    Mistake(
        "the exponent is 2i / d_model where 2i is the even feature index itself (0, 2, 4, ...); "
        "you doubled it (2 * (2i) / d_model)",
        lambda n, d: _encoding(n, d, exponent="4i"),
    ),
    Mistake(
        "a sine and the cosine after it share one frequency: feature 2i + 1 uses "
        "10000^(-2i / d_model), the same as feature 2i",
        lambda n, d: _encoding(n, d, cosine_own_frequency=True),
    ),
    Mistake(
        "positions start at 0: the first row is position 0 (sin 0 = 0, cos 0 = 1)",
        lambda n, d: _encoding(n, d, start=1),
    ),
]


def positional_encoding(learner_fn) -> None:
    """Check `positional_encoding(max_len, d_model) -> (max_len, d_model)`."""
    fn = require_function(learner_fn, "positional_encoding")
    cases = [
        Case((max_len, d_model))
        for max_len, d_model in [(10, 8), (50, 16), (1, 4), (100, 128), (7, 2)]
    ]
    run_cases(
        "positional_encoding",
        fn,
        reference.positional_encoding,
        cases,
        signature="positional_encoding(max_len, d_model)",
        mistakes=ENCODING_MISTAKES,
        atol=1e-5,
        rtol=1e-4,
        differentiable=False,
        dtype_advice="return float32, PyTorch's default float type (not float64 or numpy)",
    )
    passed("positional_encoding", f"correct on {len(cases)} sizes (atol=1e-05)")


MASK_MISTAKES = [
    Mistake(
        "the causal part is off by one: a position may attend to itself (the diagonal) "
        "and to earlier positions, never later ones",
        lambda lens, n: padding_mask(lens, n) & torch.ones(n, n, dtype=torch.bool).tril(-1),
    ),
    Mistake(
        "the causal part is off by one: position i sees position i + 1, the next word it "
        "is supposed to predict",
        lambda lens, n: padding_mask(lens, n) & torch.ones(n, n, dtype=torch.bool).tril(1),
    ),
    Mistake(
        "the mask lets positions see the future: combine the padding mask with the causal mask (&)",
        lambda lens, n: padding_mask(lens, n).expand(-1, n, -1),
    ),
    Mistake(
        "padding is not masked: combine the causal mask with padding_mask(target_lengths, "
        "target_len)",
        lambda lens, n: causal_mask(n).expand(len(lens), -1, -1),
    ),
    Mistake(
        "the padding and causal masks are joined with | (either) instead of & (both)",
        lambda lens, n: padding_mask(lens, n) | causal_mask(n),
    ),
    Mistake(
        "the mask is inverted: in this course True means MAY attend (PyTorch's own masks use "
        "True for blocked)",
        lambda lens, n: ~(padding_mask(lens, n) & causal_mask(n)),
    ),
    Mistake(
        "the causal part is the upper triangle (triu: the future); a position may see itself and "
        "the past, the lower triangle (tril)",
        lambda lens, n: padding_mask(lens, n) & torch.ones(n, n, dtype=torch.bool).triu(),
    ),
    Mistake(
        "only the keys (columns) depend on padding: a padding position's row may still look at "
        "the real tokens (a row with nothing to attend to makes softmax divide by zero)",
        lambda lens, n: (
            padding_mask(lens, n) & causal_mask(n) & padding_mask(lens, n).transpose(1, 2)
        ),
    ),
]


def decoder_self_attention_mask(learner_fn) -> None:
    """Check `decoder_self_attention_mask(target_lengths, target_len)` -> (batch, len, len)."""
    fn = require_function(learner_fn, "decoder_self_attention_mask")
    cases = [
        Case((torch.tensor(lengths), size))
        for lengths, size in [([4, 2], 4), ([3], 5), ([1, 5, 3], 5), ([6, 6], 6), ([2], 2)]
    ]
    run_cases(
        "decoder_self_attention_mask",
        fn,
        reference.decoder_self_attention_mask,
        cases,
        signature="decoder_self_attention_mask(target_lengths, target_len)",
        mistakes=MASK_MISTAKES,
        atol=0,
        rtol=0,
        differentiable=False,
        dtype_advice="return a boolean tensor (True = may attend)",
    )
    passed("decoder_self_attention_mask", f"correct on {len(cases)} cases")


def _beam_step(
    log_probs,
    beam_scores,
    beam_size,
    *,
    flatten=True,
    add_scores=True,
    swap_indices=False,
    divide_by_beams=False,
    ascending=False,
):
    """One beam step with one knob turned: the catalogue of mistakes below."""
    num_beams, vocab = log_probs.shape
    totals = (beam_scores[:, None] if add_scores else 0) + log_probs
    if not flatten:  # the best tokens of the first beam only
        scores, tokens = totals[0].topk(beam_size)
        return scores, torch.zeros_like(tokens), tokens
    scores, flat = totals.flatten().topk(beam_size)
    if ascending:
        scores, flat = scores.flip(0), flat.flip(0)
    divisor = num_beams if divide_by_beams else vocab
    beams, tokens = flat // divisor, flat % divisor
    return (scores, tokens, beams) if swap_indices else (scores, beams, tokens)


BEAM_MISTAKES = [
    Mistake(
        "the previous beam scores are not added: a continuation's score is the beam's score "
        "plus the token's log-probability",
        lambda *a: _beam_step(*a, add_scores=False),
    ),
    Mistake(
        "candidates must be ranked across all beams at once: flatten (beams, vocab) before topk",
        lambda *a: _beam_step(*a, flatten=False),
    ),
    Mistake(
        "beam and token indices are swapped: for a flat index f, the beam is f // vocab and "
        "the token f % vocab",
        lambda *a: _beam_step(*a, swap_indices=True),
    ),
    Mistake(
        "a flat index f of the (num_beams, vocab) scores splits as f // vocab (the beam) and "
        "f % vocab (the token), not by num_beams",
        lambda *a: _beam_step(*a, divide_by_beams=True),
    ),
    Mistake(
        "the right candidates, in the wrong order: return them best first (topk does that; "
        "sorting ascends unless descending=True)",
        lambda *a: _beam_step(*a, ascending=True),
    ),
]


def _beam_cases() -> list[Case]:
    generator = torch.Generator().manual_seed(0)
    cases = []
    # several beams first, so that no mistake is mistaken for another on a one-beam case
    for beams, vocab, size in [(3, 5, 3), (2, 7, 4), (1, 6, 3), (4, 4, 2), (3, 10, 5)]:
        log_probs = torch.randn(beams, vocab, generator=generator).log_softmax(-1)
        scores = -torch.rand(beams, generator=generator) * 3
        cases.append(Case((log_probs, scores, size)))
    return cases


def beam_step(learner_fn) -> None:
    """Check `beam_step(log_probs, beam_scores, beam_size) -> (scores, beam_indices,
    token_indices)`."""
    fn = require_function(learner_fn, "beam_step")
    cases = _beam_cases()
    run_cases(
        "beam_step",
        fn,
        reference.beam_step,
        cases,
        signature="beam_step(log_probs, beam_scores, beam_size)",
        mistakes=BEAM_MISTAKES,
        atol=1e-6,
        rtol=1e-6,
        output_names=("scores", "beam_indices", "token_indices"),
        differentiable=False,
        dtype_advice="scores keep the log-probabilities' dtype, and the indices are integers: "
        "use // (floor division), not /",
    )
    passed("beam_step", f"correct on {len(cases)} cases")


LENGTH_MISTAKES = [
    Mistake(
        "the scores are not length-normalised: divide each summed log-probability by "
        "length ** alpha",
        lambda scores, lengths, alpha=0.6: scores.clone(),
    ),
    Mistake(
        "you divided by the length itself, which is alpha = 1: divide by length ** alpha",
        lambda scores, lengths, alpha=0.6: scores / lengths,
    ),
    Mistake(
        "use the alpha argument, not a fixed 0.6",
        lambda scores, lengths, alpha=0.6: scores / lengths**0.6,
    ),
    Mistake(
        "that is Wu et al.'s full length penalty, ((5 + length) / 6) ** alpha; this exercise "
        "uses the simple form, length ** alpha",
        lambda scores, lengths, alpha=0.6: scores / ((5 + lengths) / 6) ** alpha,
    ),
    Mistake(
        "the score is multiplied by length ** alpha; divide by it (log-probabilities are "
        "negative, so multiplying punishes long hypotheses even more)",
        lambda scores, lengths, alpha=0.6: scores * lengths**alpha,
    ),
]


def _length_cases() -> list[Case]:
    generator = torch.Generator().manual_seed(1)
    cases = []
    for count, alpha in [(4, 0.6), (1, 0.6), (6, 1.0), (5, 0.0), (3, 0.75)]:
        scores = -torch.rand(count, generator=generator) * 10 - 0.1
        lengths = torch.randint(1, 20, (count,), generator=generator)
        cases.append(Case((scores, lengths), {"alpha": alpha}))
    return cases


def length_normalized(learner_fn) -> None:
    """Check `length_normalized(scores, lengths, alpha=0.6) -> scores / lengths ** alpha`."""
    fn = require_function(learner_fn, "length_normalized")
    cases = _length_cases()
    run_cases(
        "length_normalized",
        fn,
        reference.length_normalized,
        cases,
        signature="length_normalized(scores, lengths, alpha=0.6)",
        mistakes=LENGTH_MISTAKES,
        atol=1e-5,
        rtol=1e-5,
        differentiable=False,
        dtype_advice="return the scores' dtype (float32)",
    )
    passed("length_normalized", f"correct on {len(cases)} cases, alpha from 0 to 1")
