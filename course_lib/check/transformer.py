"""Checks for notebook 04 (the Transformer): positional encoding, the sublayer connection, the
feed-forward block, the encoder and decoder layers and the assembled encoder-decoder the learner
builds (each against the course's, with its weights), the decoder's self-attention mask, one step
of beam search, and the length-normalised score of a finished hypothesis."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .. import metrics
from .. import transformer as reference
from ..attention import causal_mask, padding_mask
from .framework import (
    Built,
    Case,
    Mistake,
    passed,
    recognises,
    require_function,
    run_cases,
    run_module_cases,
    swapped_inputs,
    swapped_submodules,
)

ATOL, RTOL = 1e-5, 1e-5


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


@recognises(ENCODING_MISTAKES)
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


@recognises(MASK_MISTAKES)
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
    combine="add",
    swap_indices=False,
    divide_by_beams=False,
    ascending=False,
    largest=True,
):
    """One beam step with one knob turned: the catalogue of mistakes below."""
    num_beams, vocab = log_probs.shape
    if combine == "multiply":
        totals = beam_scores[:, None] * log_probs
    elif combine == "unaligned":  # (num_beams,) lines up with the vocabulary axis
        totals = beam_scores + log_probs
    else:
        totals = (beam_scores[:, None] if add_scores else 0) + log_probs
    if flatten == "per beam":  # each beam's best token
        scores, tokens = totals.max(dim=-1)
        return scores, torch.arange(num_beams), tokens
    if not flatten:  # the best tokens of the first beam only
        scores, tokens = totals[0].topk(beam_size)
        return scores, torch.zeros_like(tokens), tokens
    scores, flat = totals.flatten().topk(beam_size, largest=largest)
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
    Mistake(
        "these are the worst candidates: take the beam_size largest totals (topk), or sort in "
        "descending order before taking the first beam_size",
        lambda *a: _beam_step(*a, largest=False),
    ),
    Mistake(
        "log-probabilities add up: a continuation's score is beam score + log-probability "
        "(multiplying is for probabilities)",
        lambda *a: _beam_step(*a, combine="multiply"),
    ),
    Mistake(
        "beam_scores (num_beams,) must be added to each row of log_probs: beam_scores[:, None] "
        "+ log_probs (as it is, it lines up with the vocabulary axis)",
        lambda *a: _beam_step(*a, combine="unaligned"),
    ),
    Mistake(
        "taking each beam's best token is not beam search: rank every (beam, token) pair "
        "together, flattened, and keep the beam_size best, whichever beams they come from",
        lambda *a: _beam_step(*a, flatten="per beam"),
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


@recognises(BEAM_MISTAKES)
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
    Mistake(
        "alpha is the exponent of the length: scores / lengths ** alpha, not (scores / lengths) "
        "** alpha",
        lambda scores, lengths, alpha=0.6: (scores / lengths) ** alpha,
    ),
    Mistake(
        "the length is raised to the power alpha, not multiplied by it: scores / lengths ** alpha",
        lambda scores, lengths, alpha=0.6: scores / (alpha * lengths),
    ),
    Mistake(
        "the length penalty divides: scores / lengths ** alpha; subtracting lengths ** alpha "
        "punishes long hypotheses more",
        lambda scores, lengths, alpha=0.6: scores - lengths**alpha,
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


@recognises(LENGTH_MISTAKES)
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


def _within(steps, values, ms_per_step, seconds, *, compare=torch.le, pick=-1, to_seconds=1000):
    """`value_within_seconds` with a mistake's ingredients."""
    within = compare(steps * ms_per_step / to_seconds, torch.tensor(seconds))
    if not within.any():
        return values.new_zeros(())
    chosen = values[within]
    return chosen.max() if pick == "max" else chosen[pick]


WITHIN_MISTAKES = [
    Mistake(
        "ms_per_step is in milliseconds: a step's end in seconds is step * ms_per_step / 1000",
        lambda steps, values, ms_per_step, seconds: _within(
            steps, values, ms_per_step, seconds, to_seconds=1
        ),
    ),
    Mistake(
        "an evaluation that ends exactly at the budget counts: use <=, not <",
        lambda steps, values, ms_per_step, seconds: _within(
            steps, values, ms_per_step, seconds, compare=torch.lt
        ),
    ),
    Mistake(
        "read the value of the last evaluation within the budget, not the best one: a curve can "
        "dip, and the model you would have at that time is the last one",
        lambda steps, values, ms_per_step, seconds: _within(
            steps, values, ms_per_step, seconds, pick="max"
        ),
    ),
    Mistake(
        "that is the first evaluation within the budget; take the last one (values[within][-1])",
        lambda steps, values, ms_per_step, seconds: _within(
            steps, values, ms_per_step, seconds, pick=0
        ),
    ),
    Mistake(
        "when no evaluation fits in the budget, return 0 (the model had no time to learn), not "
        "the first value",
        lambda steps, values, ms_per_step, seconds: (
            values[0]
            if not (steps * ms_per_step / 1000 <= seconds).any()
            else metrics.value_within_seconds(steps, values, ms_per_step, seconds)
        ),
    ),
    Mistake(
        "when no evaluation fits in the budget, values[within] is empty, so [-1] fails: "
        "return 0 then (values.new_zeros(()))",
        lambda steps, values, ms_per_step, seconds: values[steps * ms_per_step / 1000 <= seconds][
            -1
        ],
    ),
    Mistake(
        "return the value of the metric at that evaluation, not its step",
        lambda steps, values, ms_per_step, seconds: _within(steps, steps, ms_per_step, seconds),
    ),
    Mistake(
        "that is the first evaluation after the budget; take the last one within it "
        "(values[within][-1])",
        lambda steps, values, ms_per_step, seconds: values[
            int((steps * ms_per_step / 1000 <= seconds).sum())
        ],
    ),
]


def _within_cases() -> list[Case]:
    steps = torch.tensor([250, 500, 750, 1000, 1250, 1500])
    dipping = torch.tensor([0.30, 0.72, 0.95, 0.91, 0.97, 0.99])
    return [
        Case((steps, dipping, 80.0, 60.0)),  # 750 steps take 60.0 s: exactly at the budget
        Case((steps, dipping, 80.0, 85.0)),  # the curve dips at step 1000: the last, not the best
        Case((steps, dipping, 40.0, 1000.0)),  # all of it
        Case((steps, dipping, 129.0, 10.0)),  # nothing yet
        Case((torch.tensor([100, 300]), torch.tensor([0.5, 0.25]), 50.0, 15.0)),
    ]


@recognises(WITHIN_MISTAKES)
def value_within_seconds(learner_fn) -> None:
    """Check `value_within_seconds(steps, values, ms_per_step, seconds)`."""
    fn = require_function(learner_fn, "value_within_seconds")
    cases = _within_cases()
    run_cases(
        "value_within_seconds",
        fn,
        metrics.value_within_seconds,
        cases,
        signature="value_within_seconds(steps, values, ms_per_step, seconds)",
        mistakes=WITHIN_MISTAKES,
        atol=1e-6,
        rtol=1e-6,
        differentiable=False,
        dtype_advice="return one value of the curve (values' dtype), e.g. values[i]; for none, "
        "values.new_zeros(())",
    )
    passed("value_within_seconds", f"correct on {len(cases)} curves and budgets")


# --- the layers the learner builds: sublayer connection, feed-forward, encoder and decoder layers,
# and the assembled encoder-decoder; each against the course's own (itself equal to torch.nn's) ----


def _same_draws(fn):
    """`fn` called from a fixed random state (restored afterwards): dropout draws the same masks
    for the learner's code and the reference."""

    def call(*args, **kwargs):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            return fn(*args, **kwargs)

    return call


def _sublayer(x, sublayer, norm, dropout, norm_first, *, mistake=None):
    """The sublayer connection with one mistake: the catalogue below."""
    if mistake == "swapped":
        norm_first = not norm_first
    if mistake == "no residual":
        return dropout(sublayer(norm(x))) if norm_first else norm(dropout(sublayer(x)))
    if mistake == "dropout on the input":
        return x + sublayer(dropout(norm(x))) if norm_first else norm(x + sublayer(dropout(x)))
    if mistake == "no norm":
        return x + dropout(sublayer(x))
    if mistake == "normalised twice" and not norm_first:
        return norm(x + dropout(sublayer(norm(x))))
    if mistake == "residual after norm":
        return (norm(dropout(sublayer(x))) if not norm_first else dropout(sublayer(norm(x)))) + x
    if mistake == "normalised residual":
        y = norm(x)
        return (y + dropout(sublayer(y))) if norm_first else norm(y + dropout(sublayer(y)))
    if mistake == "dropout on the sum":
        return dropout(x + sublayer(norm(x))) if norm_first else norm(dropout(x + sublayer(x)))
    if mistake == "no dropout":
        return x + sublayer(norm(x)) if norm_first else norm(x + sublayer(x))
    return reference.sublayer_connection(x, sublayer, norm, dropout, norm_first)


SUBLAYER_MISTAKES = [
    Mistake(
        "post-norm adds first and normalises the sum: norm(x + dropout(sublayer(x))); yours "
        "normalises the sublayer's output and adds x after",
        lambda *a: _sublayer(*a, mistake="residual after norm"),
    ),
    Mistake(
        "the residual adds the input x itself, not norm(x): x + dropout(sublayer(norm(x)))",
        lambda *a: _sublayer(*a, mistake="normalised residual"),
    ),
    Mistake(
        "the two placements are swapped: norm_first=True is pre-norm, "
        "x + dropout(sublayer(norm(x))); norm_first=False is post-norm, "
        "norm(x + dropout(sublayer(x)))",
        lambda *a: _sublayer(*a, mistake="swapped"),
    ),
    Mistake(
        "dropout goes on the sublayer's output, before the addition, not on the sum",
        lambda *a: _sublayer(*a, mistake="dropout on the sum"),
    ),
    Mistake(
        "dropout is missing: apply `dropout` to the sublayer's output before adding it",
        lambda *a: _sublayer(*a, mistake="no dropout"),
    ),
    Mistake(
        "the residual connection is missing: add the input x to the sublayer's (dropped-out) "
        "output",
        lambda *a: _sublayer(*a, mistake="no residual"),
    ),
    Mistake(
        "the LayerNorm is missing: pre-norm normalises the sublayer's input, post-norm the sum",
        lambda *a: _sublayer(*a, mistake="no norm"),
    ),
    Mistake(
        "post-norm gives the sublayer x itself and normalises only the sum: "
        "norm(x + dropout(sublayer(x)))",
        lambda *a: _sublayer(*a, mistake="normalised twice"),
    ),
    Mistake(
        "dropout goes on the sublayer's output, not on its input",
        lambda *a: _sublayer(*a, mistake="dropout on the input"),
    ),
]


def _visible_norms(module: torch.nn.Module) -> torch.nn.Module:
    """`module` with every LayerNorm's weight and bias drawn at random: a fresh LayerNorm (weight
    1, bias 0) changes nothing where it is left out or another is used in its place."""
    for norm in module.modules():
        if isinstance(norm, torch.nn.LayerNorm):
            torch.nn.init.normal_(norm.weight, 1.0, 0.3)
            torch.nn.init.normal_(norm.bias, 0.0, 0.3)
    return module


def _sublayer_cases(seed: int) -> list[Case]:
    generator = torch.Generator().manual_seed(seed)
    cases = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for norm_first in (False, True):
            for training in (False, True):
                x = 2 * torch.randn(2, 5, 8, generator=generator) + 1
                sublayer = torch.nn.Linear(8, 8)
                norm = _visible_norms(torch.nn.LayerNorm(8))
                dropout = torch.nn.Dropout(0.3).train(training)
                mode = "training" if training else "eval"
                label = (
                    f"x (2, 5, 8), a Linear sublayer, LayerNorm(8), Dropout(0.3) in {mode} mode, "
                    f"norm_first={norm_first}"
                )
                cases.append(Case((x, sublayer, norm, dropout, norm_first), label=label))
    return cases


@recognises(SUBLAYER_MISTAKES)
def sublayer_connection(learner_fn, *, seed: int = 0) -> None:
    """Check `sublayer_connection(x, sublayer, norm, dropout, norm_first)` (pre-norm and
    post-norm, dropout on and off)."""
    fn = require_function(learner_fn, "sublayer_connection")
    cases = _sublayer_cases(seed)
    run_cases(
        "sublayer_connection",
        _same_draws(fn),
        _same_draws(reference.sublayer_connection),
        cases,
        signature="sublayer_connection(x, sublayer, norm, dropout, norm_first)",
        mistakes=[Mistake(m.hint, _same_draws(m.wrong_implementation)) for m in SUBLAYER_MISTAKES],
        atol=ATOL,
        rtol=RTOL,
    )
    passed("sublayer_connection", f"pre-norm and post-norm match on {len(cases)} cases")


class _NoActivation(reference.FeedForward):
    def forward(self, x):
        return self.linear2(self.dropout(self.linear1(x)))


class _DropoutAtTheEnd(reference.FeedForward):
    def forward(self, x):
        return self.dropout(self.linear2(self.activation(self.linear1(x))))


class _DropoutAlwaysOn(reference.FeedForward):
    def forward(self, x):
        return self.linear2(F.dropout(self.activation(self.linear1(x)), self.dropout.p))


class _ActivationAtTheEnd(reference.FeedForward):
    def forward(self, x):
        return self.activation(self.linear2(self.dropout(self.activation(self.linear1(x)))))


class _Gelu(reference.FeedForward):
    def forward(self, x):
        return self.linear2(self.dropout(F.gelu(self.linear1(x))))


class _ResidualInside(reference.FeedForward):
    def forward(self, x):
        return x + super().forward(x)


class _DropoutOnTheInput(reference.FeedForward):
    def forward(self, x):
        return self.linear2(self.activation(self.linear1(self.dropout(x))))


class _DropoutTwice(reference.FeedForward):
    def forward(self, x):
        return self.dropout(super().forward(x))


DROPOUT_IN_EVAL = (
    "dropout is active in evaluation (F.dropout defaults to training=True): use an nn.Dropout "
    "module (self.dropout), which model.eval() switches off"
)
FEED_FORWARD_MISTAKES = [
    Mistake(
        "the activation (ReLU) between the two linear layers is missing: without it the block is "
        "one linear map",
        _NoActivation,
    ),
    Mistake(
        "dropout goes after the activation, between the two linear layers, not after the second",
        _DropoutAtTheEnd,
    ),
    Mistake(DROPOUT_IN_EVAL, _DropoutAlwaysOn),
    Mistake(
        "the output of the second linear layer is not activated: "
        "linear2(dropout(relu(linear1(x))))",
        _ActivationAtTheEnd,
    ),
    Mistake("the activation is ReLU, the paper's (F.relu), not GELU", _Gelu),
    Mistake(
        "FeedForward is the two linear layers alone: the residual connection (x + ...) is added "
        "around it by sublayer_connection, not inside",
        _ResidualInside,
    ),
    Mistake(
        "dropout goes on the hidden activations, after the ReLU, not on the input",
        _DropoutOnTheInput,
    ),
    Mistake(
        "dropout is applied once, between the two linear layers; the dropout after the block "
        "belongs to sublayer_connection",
        _DropoutTwice,
    ),
]


def _layer_cases(make, sizes, seed: int, inputs) -> list[Case]:
    """Cases for a layer class: `make(norm_first, dropout)` builds the reference (its LayerNorms
    drawn at random); eval mode with dropout 0.3 (it must be off), and training mode (the same
    masks for both), both placements."""
    cases = []
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for norm_first in (False, True):
            for training in (False, True):
                module = _visible_norms(make(norm_first))
                kwargs = {"dropout": 0.3, "norm_first": norm_first}
                built = Built(module, sizes, kwargs, training=training, seed=seed)
                cases.append(Case((built, *inputs(generator))))
    return cases


@recognises(FEED_FORWARD_MISTAKES)
def feed_forward(learner_class, *, seed: int = 0) -> None:
    """Check the learner's `FeedForward(d_model, d_ff, dropout)` against the course's (names:
    linear1, linear2, dropout)."""
    generator = torch.Generator().manual_seed(seed)
    cases = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for training in (False, True):
            module = reference.FeedForward(8, 16, dropout=0.3)
            built = Built(module, (8, 16), {"dropout": 0.3}, training=training, seed=seed)
            cases.append(Case((built, torch.randn(2, 5, 8, generator=generator))))
    run_module_cases(
        "FeedForward",
        learner_class,
        cases,
        signature="FeedForward(d_model, d_ff, dropout), forward(x)",
        mistakes=FEED_FORWARD_MISTAKES,
        atol=ATOL,
        rtol=RTOL,
    )
    passed("FeedForward", f"matches the course's with its weights on {len(cases)} cases")


def _encoder(
    layer, x, mask, *, both=None, attention=None, feed_forward=None, always_drop=False, pair=False
):
    """The encoder layer's forward with one knob turned: the sublayer connection mistake (as in
    `_sublayer`) of both sublayers, of the attention's or of the feed-forward's; dropout by
    F.dropout, on even in eval mode; the attention's whole (output, weights) passed on."""

    def attend(y):
        out = layer.self_attention(y, y, y, mask)
        return out if pair else out[0]

    drop1, drop2 = layer.dropout1, layer.dropout2
    if always_drop:  # F.dropout's training=True by default
        drop1 = drop2 = lambda y: F.dropout(y, layer.dropout1.p)
    x = _sublayer(x, attend, layer.norm1, drop1, layer.norm_first, mistake=both or attention)
    return _sublayer(
        x, layer.feed_forward, layer.norm2, drop2, layer.norm_first, mistake=both or feed_forward
    )


def _encoder_with(*, ignore_mask=False, **knobs) -> type:
    """The course's encoder layer with its forward pass replaced by `_encoder` with one knob
    turned, or without the mask."""

    class Wrong(reference.EncoderLayer):
        def forward(self, x, mask=None):
            return _encoder(self, x, None if ignore_mask else mask, **knobs)

    return Wrong


RESIDUAL_AFTER_NORM = (
    "in post-norm the residual goes around the sublayer, before the norm: norm(x + "
    "dropout(sublayer(x))); yours adds x after normalising"
)
SWAPPED = (
    "the norm placements are swapped: norm_first=True normalises before each sublayer "
    "(pre-norm), norm_first=False after the addition (post-norm)"
)
ENCODER_LAYER_MISTAKES = [
    Mistake(RESIDUAL_AFTER_NORM, _encoder_with(both="residual after norm")),
    Mistake(SWAPPED, _encoder_with(both="swapped")),
    Mistake(
        "the mask is not passed to the self-attention: padding positions get attended to",
        _encoder_with(ignore_mask=True),
    ),
    Mistake(DROPOUT_IN_EVAL, _encoder_with(always_drop=True)),
    Mistake(
        "the feed-forward sublayer needs its residual connection too: x + "
        "dropout(feed_forward(...)), not its output alone",
        _encoder_with(feed_forward="no residual"),
    ),
    Mistake(
        "the self-attention sublayer needs its residual connection too: x + "
        "dropout(self_attention(...)), not its output alone",
        _encoder_with(attention="no residual"),
    ),
    Mistake(
        "dropout1 and dropout2 are not applied: each sublayer's output goes through its dropout "
        "before the residual addition",
        _encoder_with(both="no dropout"),
    ),
    Mistake(
        "the attention module returns a pair (output, weights): the sublayer must return the "
        "output alone, self_attention(y, y, y, mask)[0]",
        _encoder_with(pair=True),
    ),
    *swapped_submodules(reference.EncoderLayer, ("norm1", "norm2")),
]


@recognises(ENCODER_LAYER_MISTAKES)
def encoder_layer(learner_class, *, seed: int = 0) -> None:
    """Check the learner's `EncoderLayer(d_model, num_heads, d_ff, dropout, norm_first)` against
    the course's, which equals `nn.TransformerEncoderLayer` with the same weights."""

    def inputs(generator):
        x = torch.randn(2, 5, 16, generator=generator)
        return x, padding_mask(torch.tensor([5, 3]), 5)

    cases = _layer_cases(
        lambda norm_first: reference.EncoderLayer(16, 4, 32, 0.3, norm_first),
        (16, 4, 32),
        seed,
        inputs,
    )
    run_module_cases(
        "EncoderLayer",
        learner_class,
        cases,
        signature="EncoderLayer(d_model, num_heads, d_ff, dropout, norm_first), forward(x, mask)",
        mistakes=ENCODER_LAYER_MISTAKES,
        atol=ATOL,
        rtol=RTOL,
    )
    passed(
        "EncoderLayer",
        f"post-norm and pre-norm, eval and training mode match on {len(cases)} cases",
    )


class _DecoderSelfAttentionTwice(reference.DecoderLayer):
    def forward(self, x, memory, target_mask=None, memory_mask=None):
        return super().forward(x, x, target_mask, target_mask)


class _DecoderNoCausalMask(reference.DecoderLayer):
    def forward(self, x, memory, target_mask=None, memory_mask=None):
        return super().forward(x, memory, None, memory_mask)


class _DecoderNoMemoryMask(reference.DecoderLayer):
    def forward(self, x, memory, target_mask=None, memory_mask=None):
        return super().forward(x, memory, target_mask, None)


def _decoder_with(*, cross_first=False, queries_from_memory=False) -> type:
    """The course's decoder layer with the cross-attention first, or asking its questions from
    the memory (keys and values from the decoder)."""

    class Wrong(reference.DecoderLayer):
        def forward(self, x, memory, target_mask=None, memory_mask=None):
            def attend_to_itself(y):
                return self.self_attention(y, y, y, target_mask)[0]

            def attend_to_memory(y):
                queries, keys = (memory, y) if queries_from_memory else (y, memory)
                return self.cross_attention(queries, keys, keys, memory_mask)[0]

            first, second = attend_to_itself, attend_to_memory
            if cross_first:
                first, second = second, first
            connect = reference.sublayer_connection
            x = connect(x, first, self.norm1, self.dropout1, self.norm_first)
            x = connect(x, second, self.norm2, self.dropout2, self.norm_first)
            return connect(x, self.feed_forward, self.norm3, self.dropout3, self.norm_first)

    return Wrong


class _DecoderSwapped(reference.DecoderLayer):
    def forward(self, x, memory, target_mask=None, memory_mask=None):
        self.norm_first = not self.norm_first
        try:
            return super().forward(x, memory, target_mask, memory_mask)
        finally:
            self.norm_first = not self.norm_first


DECODER_LAYER_MISTAKES = [
    Mistake(
        "cross-attention must take its keys and values from the encoder's output (memory), not "
        "from the decoder's own states: cross_attention(y, memory, memory, memory_mask)",
        _DecoderSelfAttentionTwice,
    ),
    Mistake(
        "the decoder's self-attention has no causal mask: each position can see the words after "
        "it. Pass target_mask to self_attention",
        _DecoderNoCausalMask,
    ),
    Mistake(
        "memory_mask is not passed to the cross-attention: the decoder attends to the source's "
        "padding",
        _DecoderNoMemoryMask,
    ),
    Mistake(
        "the sublayers are in the wrong order: masked self-attention first, then cross-attention, "
        "then the feed-forward network",
        _decoder_with(cross_first=True),
    ),
    Mistake(SWAPPED, _DecoderSwapped),
    Mistake(
        "cross-attention asks its questions from the decoder: the queries are the decoder's "
        "states (y), the keys and values the memory, cross_attention(y, memory, memory, "
        "memory_mask)",
        _decoder_with(queries_from_memory=True),
    ),
    *swapped_inputs(
        reference.DecoderLayer,
        ("target_mask", "memory_mask"),
        note=": target_mask goes to the self-attention, memory_mask to the cross-attention",
    ),
    *swapped_submodules(
        reference.DecoderLayer, ("self_attention", "cross_attention"), ("norm1", "norm2")
    ),
]


@recognises(DECODER_LAYER_MISTAKES)
def decoder_layer(learner_class, *, seed: int = 0) -> None:
    """Check the learner's `DecoderLayer(d_model, num_heads, d_ff, dropout, norm_first)` against
    the course's, which equals `nn.TransformerDecoderLayer` with the same weights."""

    def inputs(generator):
        x = torch.randn(2, 4, 16, generator=generator)
        memory = torch.randn(2, 6, 16, generator=generator)
        return x, memory, causal_mask(4), padding_mask(torch.tensor([6, 2]), 6)

    cases = _layer_cases(
        lambda norm_first: reference.DecoderLayer(16, 4, 32, 0.3, norm_first),
        (16, 4, 32),
        seed,
        inputs,
    )
    run_module_cases(
        "DecoderLayer",
        learner_class,
        cases,
        signature=(
            "DecoderLayer(d_model, num_heads, d_ff, dropout, norm_first), "
            "forward(x, memory, target_mask, memory_mask)"
        ),
        mistakes=DECODER_LAYER_MISTAKES,
        atol=ATOL,
        rtol=RTOL,
    )
    passed(
        "DecoderLayer",
        f"post-norm and pre-norm, eval and training mode match on {len(cases)} cases",
    )


def _transformer_with(
    *,
    positions="added",
    target_embedding=True,
    encoder_mask=True,
    chained=True,
    causal=True,
    memory_mask=True,
    final_norms=True,
) -> type:
    """The course's Transformer with one knob turned: the catalogue of mistakes below."""

    class Wrong(reference.TranslationTransformer):
        def _embed(self, embedding, ids):
            if positions == "missing":
                return self.dropout(embedding(ids))
            if positions == "by batch":  # ids are (batch, seq)
                return self.dropout(embedding(ids) + self.positions[: ids.shape[0]])
            return super()._embed(embedding, ids)

        def encode(self, source, source_lengths):
            mask = padding_mask(source_lengths, source.shape[1])
            x = self._embed(self.source_embedding, source)
            for layer in self.encoder_layers:
                out = layer(x, mask if encoder_mask else None)
                x = out if chained else x
            return (self.encoder_norm(out) if final_norms else out), mask

        def decode(self, target_input, memory, source_mask):
            embedding = self.target_embedding if target_embedding else self.source_embedding
            target_mask = causal_mask(target_input.shape[1]) if causal else None
            y = self._embed(embedding, target_input)
            for layer in self.decoder_layers:
                y = layer(y, memory, target_mask, source_mask if memory_mask else None)
            return self.output(self.decoder_norm(y) if final_norms else y)

    return Wrong


TRANSFORMER_MISTAKES = [
    Mistake(
        "the positional encoding is missing: add self.positions[:seq_len] to the token "
        "embeddings, or the model cannot tell word order",
        _transformer_with(positions="missing"),
    ),
    Mistake(
        "the decoder layers get no causal mask: build causal_mask(target_len) and pass it as "
        "their target_mask",
        _transformer_with(causal=False),
    ),
    Mistake(
        "the source's padding mask is not passed to the decoder layers (memory_mask): their "
        "cross-attention looks at <pad> positions",
        _transformer_with(memory_mask=False),
    ),
    Mistake(
        "the final LayerNorms are missing: normalise after the last encoder layer "
        "(encoder_norm) and after the last decoder layer (decoder_norm)",
        _transformer_with(final_norms=False),
    ),
    Mistake(
        "the positional encoding is cut to the batch size: ids are (batch, seq), so take "
        "self.positions[: ids.shape[1]]",
        _transformer_with(positions="by batch"),
    ),
    Mistake(
        "the target tokens go through the source embedding: embed target_input with "
        "self.target_embedding",
        _transformer_with(target_embedding=False),
    ),
    Mistake(
        "the encoder layers get no padding mask: pass padding_mask(source_lengths, source_len) "
        "to each of them, or they attend to <pad> positions",
        _transformer_with(encoder_mask=False),
    ),
    Mistake(
        "each encoder layer must take the previous layer's output (x = layer(x, mask)); yours "
        "gives every layer the embeddings",
        _transformer_with(chained=False),
    ),
]


@recognises(TRANSFORMER_MISTAKES)
def transformer_model(learner_class, *, seed: int = 0) -> None:
    """Check the learner's assembled `Transformer(source_vocab_size, target_vocab_size, d_model,
    num_heads, num_layers, d_ff, dropout, norm_first)`: with the course's `TranslationTransformer`'s
    weights it must encode and give the same logits (both placements)."""
    generator = torch.Generator().manual_seed(seed)
    encode_cases, forward_cases = [], []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for norm_first in (True, False):
            sizes = (13, 11)
            kwargs = {"d_model": 16, "num_heads": 4, "num_layers": 2, "d_ff": 32}
            kwargs.update(dropout=0.2, norm_first=norm_first)
            model = reference.TranslationTransformer(*sizes, **kwargs).eval()
            source = torch.randint(4, 13, (3, 6), generator=generator)
            source[1, 4:] = 0
            source[2, 2:] = 0
            lengths = torch.tensor([6, 4, 2])
            target = torch.randint(4, 11, (3, 5), generator=generator)
            target[:, 0] = 1
            built = Built(model, sizes, kwargs, method="encode")
            encode_cases.append(Case((built, source, lengths)))
            forward_cases.append(Case((Built(model, sizes, kwargs), source, lengths, target)))
    signature = (
        "Transformer(source_vocab_size, target_vocab_size, d_model, num_heads, num_layers, "
        "d_ff, dropout, norm_first), encode(source, source_lengths), forward(source, "
        "source_lengths, target_input)"
    )
    for cases, outputs in ((encode_cases, ("memory", "mask")), (forward_cases, ("logits",))):
        run_module_cases(
            "Transformer",
            learner_class,
            cases,
            signature=signature,
            mistakes=TRANSFORMER_MISTAKES,
            atol=ATOL,
            rtol=RTOL,
            output_names=outputs,
        )
    passed(
        "Transformer",
        "with TranslationTransformer's weights, the same memory and logits, post-norm and pre-norm",
    )
