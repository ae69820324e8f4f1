"""Checks for notebook 07 (T5): span corruption, writing each task as text, RMSNorm (against the
course's, equal to `transformers`' T5LayerNorm) and the relative position buckets.

Span corruption is random, so its check is partly statistical: over a few hundred sequences the
share of hidden tokens must be close to `noise_density` and the mean span length close to
`mean_span_length` (tolerances stated in the messages); every single draw must obey the exact
rules (one sentinel per span, in order, targets listing each sentinel and its tokens, input and
target together giving back the original).
"""

from __future__ import annotations

import math
import random

import torch

from .. import t5 as model_reference
from .. import t5_data as reference
from .. import t5_training
from ..multi_head_attention import merge_heads, split_heads
from ..t5 import masked_bias
from .framework import (
    Built,
    Case,
    CheckFailed,
    Mistake,
    call_plainly,
    passed,
    recognises,
    require_function,
    run_cases,
    run_module_cases,
)

SPAN_SIGNATURE = "span_corruption(tokens, sentinels, rng, noise_density=0.15, mean_span_length=3.0)"
FORMAT_SIGNATURE = "format_example(task, example)"
SENTINELS = list(range(1000, 1064))  # ids that no ordinary token of the checks uses


def _corrupt(fn, tokens: list[int], rng, **settings):
    where = f"span_corruption({len(tokens)} tokens"
    where += "".join(f", {key}={value}" for key, value in settings.items()) + ")"
    copy = list(tokens)
    result = call_plainly(
        fn, "span_corruption", where, SPAN_SIGNATURE, copy, SENTINELS, rng, **settings
    )
    if copy != tokens:
        raise CheckFailed(f"{where} changed `tokens` in place: build new lists")
    if not (isinstance(result, (tuple, list)) and len(result) == 2):
        raise CheckFailed(f"{where} should return a pair (inputs, targets), got {result!r:.80}")
    inputs, targets = (list(part) if isinstance(part, (list, tuple)) else part for part in result)
    for name, part in (("inputs", inputs), ("targets", targets)):
        if not isinstance(part, list) or not all(isinstance(t, int) for t in part):
            raise CheckFailed(
                f"{where}: {name} should be a list of token ids (ints), got {part!r:.80}"
            )
    return where, inputs, targets


def _spans(where: str, tokens: list[int], inputs: list[int], targets: list[int]) -> list[int]:
    """The exact rules for one draw; returns the length of each hidden span."""
    in_sentinels = [t for t in inputs if t in SENTINELS]
    out_sentinels = [t for t in targets if t in SENTINELS]
    if not in_sentinels:
        raise CheckFailed(
            f"{where}: the inputs contain no sentinel: nothing was hidden. T5 hides "
            "round(length × noise_density) tokens, at least one, in every sequence"
        )
    if in_sentinels != SENTINELS[: len(in_sentinels)]:
        raise CheckFailed(
            f"{where}: the inputs use the sentinels {in_sentinels[:6]}...; the k-th hidden span "
            f"gets sentinels[k] (here {SENTINELS[:3]}...), each used once, in order"
        )
    if out_sentinels != in_sentinels:
        raise CheckFailed(
            f"{where}: the targets should list the same sentinels as the inputs, in the same "
            f"order (inputs: {in_sentinels[:6]}, targets: {out_sentinels[:6]}); each one is "
            "followed by the tokens it hides"
        )
    if targets[0] not in SENTINELS:
        raise CheckFailed(
            f"{where}: the targets should start with the first sentinel, got {targets[:4]}"
        )
    lengths, current = [], 0
    for token in targets[1:] + [SENTINELS[0]]:
        if token in SENTINELS:
            lengths.append(current)
            current = 0
        else:
            current += 1
    if 0 in lengths:
        raise CheckFailed(
            f"{where}: a sentinel in the targets is followed by no token: every "
            "sentinel hides at least one token"
        )
    if any(a in SENTINELS and b in SENTINELS for a, b in zip(inputs, inputs[1:], strict=False)):
        raise CheckFailed(
            f"{where}: two sentinels are next to each other in the inputs. Neighbouring hidden "
            "tokens form one span, and one span gets one sentinel"
        )
    restored = reference.reconstruct(inputs, targets, SENTINELS)
    if restored != tokens:
        if len(inputs) + len(targets) == len(tokens) + 2 * len(in_sentinels):
            hint = "the hidden tokens don't go back where they came from"
        else:
            hint = (
                f"{len(tokens)} tokens went in, but inputs and targets hold "
                f"{len(inputs) + len(targets) - 2 * len(in_sentinels)} non-sentinel tokens: "
                "every token belongs to exactly one of them"
            )
        raise CheckFailed(
            f"{where}: putting each sentinel's tokens back into the inputs does "
            f"not give the original sequence: {hint}"
        )
    if len(tokens) >= 2 and len(inputs) == len(in_sentinels):
        raise CheckFailed(f"{where}: every token was hidden; some must stay visible")
    return lengths


def _statistics(fn, seed: int, **settings):
    rng = random.Random(seed)
    data = random.Random(seed + 100)
    hidden = total = 0
    spans: list[int] = []
    halves = [0, 0]
    for _ in range(300):
        tokens = [data.randrange(10, 1000) for _ in range(data.randrange(20, 121))]
        where, inputs, targets = _corrupt(fn, tokens, rng, **settings)
        lengths = _spans(where, tokens, inputs, targets)
        spans += lengths
        hidden += sum(lengths)
        total += len(tokens)
        position = 0
        for token in inputs:  # where the hidden tokens were: first half or second half
            if token in SENTINELS:
                size = lengths[SENTINELS.index(token)]
                for offset in range(size):
                    halves[(position + offset) * 2 >= len(tokens)] += 1
                position += size
            else:
                position += 1
    return hidden / total, hidden / len(spans), halves


@recognises()
def span_corruption(learner_fn) -> None:
    """Check T5's span corruption: about `noise_density` of the tokens hidden, in spans of
    `mean_span_length` on average, one sentinel per span (in order) in the inputs, the targets
    listing each sentinel with its tokens, nothing lost, randomness from `rng` only."""
    fn = require_function(learner_fn, "span_corruption")
    for tokens in ([11, 12], [11, 12, 13], list(range(10, 30))):
        where, inputs, targets = _corrupt(fn, tokens, random.Random(0))
        _spans(where, tokens, inputs, targets)

    settings_list = ({}, {"noise_density": 0.3, "mean_span_length": 2.0})
    for settings in settings_list:
        density = settings.get("noise_density", 0.15)
        mean = settings.get("mean_span_length", 3.0)
        rate, span_length, halves = _statistics(fn, 0, **settings)
        described = (
            "the defaults" if not settings else ", ".join(f"{k}={v}" for k, v in settings.items())
        )
        if abs(rate - density) > 0.02:
            hint = ""
            if abs(rate - density * mean) < 0.05:
                hint = (
                    f" ({rate:.0%} is about {density:.0%} × {mean:g}: do {density:.0%} of the "
                    "tokens START a span? The share of hidden tokens should be "
                    f"{density:.0%})"
                )
            raise CheckFailed(
                f"span_corruption with {described} hid {rate:.1%} of the tokens; it should hide "
                f"{density:.0%} (tolerance ±2 points){hint}. Use the noise_density argument."
            )
        if abs(span_length - mean) > 0.5:
            hint = (
                " (about 1: tokens hidden one by one, as BERT does; T5 hides spans)"
                if (span_length < 1.3)
                else ""
            )
            raise CheckFailed(
                f"span_corruption with {described}: the hidden spans are {span_length:.2f} tokens "
                f"long on average; they should be about {mean:g} (tolerance ±0.5){hint}. Use the "
                "mean_span_length argument."
            )
        first, second = halves
        if min(first, second) < 0.25 * (first + second):
            side = "first" if first < second else "second"
            raise CheckFailed(
                f"span_corruption with {described}: only "
                f"{min(first, second) / (first + second):.0%} "
                f"of the hidden tokens are in the {side} half of the sequences: place the spans "
                "at random positions over the whole sequence"
            )

    tokens = list(range(10, 110))
    first = _corrupt(fn, tokens, random.Random(5))[1:]
    again = _corrupt(fn, tokens, random.Random(5))[1:]
    if first != again:
        raise CheckFailed(
            "span_corruption gave different results for the same rng seed: draw every random "
            "number from the `rng` argument (rng.random(), rng.sample(...)), so that the "
            "corruption is reproducible"
        )
    if all(_corrupt(fn, tokens, random.Random(seed))[1:] == first for seed in range(6, 10)):
        raise CheckFailed(
            "span_corruption gave the same result for five different rng seeds: choose the "
            "spans at random with the `rng` argument, not by a fixed rule or a seed of your own"
        )
    state = random.getstate()
    random.seed(1234)
    expected = random.random()
    random.seed(1234)
    _corrupt(fn, tokens, random.Random(5))
    moved = random.random() != expected
    random.setstate(state)
    if moved:
        raise CheckFailed(
            "span_corruption used Python's global random generator (random.random(), "
            "random.sample, ...): draw from the `rng` argument instead, so that results are "
            "reproducible"
        )
    passed(
        "span_corruption",
        "one sentinel per span, targets right, originals restored; 15% hidden in spans of 3 on "
        "average over 300 sequences (and 30% in spans of 2 when asked)",
    )


FORMAT_CASES = (
    ("translate", {"english": "four hundred and two", "french": "quatre cent deux"}),
    ("translate", {"english": "seventy-one", "french": "soixante et onze"}),
    (
        "summarize",
        {
            "article": "Return the sum of a and b. Both must be numbers.",
            "summary": "Add two numbers.",
        },
    ),
    ("topic", {"text": "The shuttle launch slipped a week.", "topic": "space"}),
    ("question", {"question": "what is the capital of greece?", "answer": "athens"}),
    ("similarity", {"sentence1": "four hundred", "sentence2": "four hundred", "score": 5.0}),
    ("similarity", {"sentence1": "sixty-one", "sentence2": "seventy", "score": 0.0}),
    (
        "similarity",
        {
            "sentence1": "seven hundred and two",
            "sentence2": "seven hundred and twelve",
            "score": 3.0,
        },
    ),
    ("similarity", {"sentence1": "three hundred", "sentence2": "three thousand", "score": 5 / 3}),
    ("similarity", {"sentence1": "ninety-one", "sentence2": "ninety-four", "score": 1.6666667}),
    ("similarity", {"sentence1": "one", "sentence2": "one hundred and one", "score": 5 / 3}),
)


def _tie(score: float) -> bool:
    """True when score * 5 sits (within float error) halfway between two integers."""
    scaled = score * 5
    return abs(abs(scaled - int(scaled)) - 0.5) < 1e-9


@recognises()
def format_example(learner_fn) -> None:
    """Check the text-to-text formatting of every task against `t5_data.to_text`, including
    STS-B-style scores (nearest 0.2, one decimal) and an error for an unknown task."""
    fn = require_function(learner_fn, "format_example")
    for task, example in FORMAT_CASES:
        where = f"format_example({task!r}, {example})"
        result = call_plainly(fn, "format_example", where, FORMAT_SIGNATURE, task, dict(example))
        if not (isinstance(result, (tuple, list)) and len(result) == 2):
            raise CheckFailed(
                f"{where} should return a pair (input text, target text), got {result!r:.80}"
            )
        got_input, got_target = result
        expected_input, expected_target = reference.to_text(task, example)
        if not isinstance(got_input, str) or not isinstance(got_target, str):
            raise CheckFailed(
                f"{where} should return two strings, got "
                f"({type(got_input).__name__}, {type(got_target).__name__}); a "
                "target is text too: write numbers with f'{score:.1f}'"
            )
        if got_input != expected_input:
            hint = ""
            if got_input.strip() == expected_input.strip():
                hint = " (only spaces at the ends differ)"
            elif got_input.replace(" ", "") == expected_input.replace(" ", ""):
                hint = " (only the spaces differ: one space after each colon)"
            raise CheckFailed(
                f"{where}: the input should be {expected_input!r}, got {got_input!r}{hint}"
            )
        if got_target != expected_target:
            if task == "similarity" and _tie(example["score"]):
                low = f"{(int(example['score'] * 5)) / 5:.1f}"
                high = f"{(int(example['score'] * 5) + 1) / 5:.1f}"
                if got_target in (low, high):
                    continue  # halfway: either neighbour is fine
            hint = ""
            if task == "similarity":
                try:
                    value = float(got_target)
                except ValueError:
                    value = None
                if value is not None and abs(value - float(expected_target)) < 1e-6:
                    hint = " (the right number, written differently: use one decimal, f'{x:.1f}')"
                elif value is not None and abs(value - example["score"]) < 0.051:
                    hint = (
                        " (rounded to 0.1, or not rounded: STS-B targets are multiples of "
                        "0.2: round(score * 5) / 5)"
                    )
                else:
                    hint = " (the nearest multiple of 0.2, with one decimal)"
            raise CheckFailed(
                f"{where}: the target should be {expected_target!r}, got {got_target!r}{hint}"
            )
    try:
        fn("translate Klingon", {"english": "one"})
    except ValueError:
        pass
    except Exception as error:  # noqa: BLE001 - any other error is the learner's to fix
        raise CheckFailed(
            "format_example('translate Klingon', ...) raised "
            f"{type(error).__name__}: {error}; an unknown task should raise ValueError naming the "
            "tasks"
        ) from None
    else:
        raise CheckFailed(
            "format_example('translate Klingon', ...) returned instead of raising: an unknown "
            "task should raise ValueError naming the known tasks, so that a typo is not trained on"
        )
    passed(
        "format_example",
        f"all five tasks formatted right on {len(FORMAT_CASES)} examples, unknown task refused",
    )


# --- RMSNorm and the relative position buckets ---------------------------------------------------


class _SubtractsTheMean(model_reference.RMSNorm):
    def forward(self, x):
        centred = x - x.mean(-1, keepdim=True)
        return self.weight * centred * torch.rsqrt(centred.pow(2).mean(-1, keepdim=True) + self.eps)


class _EpsOutside(model_reference.RMSNorm):
    def forward(self, x):
        return self.weight * x / (x.pow(2).mean(-1, keepdim=True).sqrt() + self.eps)


class _NoWeight(model_reference.RMSNorm):
    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)


class _NormNotMean(model_reference.RMSNorm):
    def forward(self, x):
        return self.weight * x * torch.rsqrt(x.pow(2).sum(-1, keepdim=True) + self.eps)


class _WrongAxis(model_reference.RMSNorm):
    def forward(self, x):
        return self.weight * x * torch.rsqrt(x.pow(2).mean(1, keepdim=True) + self.eps)


RMS_MISTAKES = [
    Mistake(
        "RMSNorm does not subtract the mean (that is LayerNorm): divide x itself by "
        "sqrt(mean(x^2) + eps)",
        _SubtractsTheMean,
    ),
    Mistake(
        "eps goes inside the square root: x / sqrt(mean(x^2) + eps), as T5LayerNorm computes it",
        _EpsOutside,
    ),
    Mistake("the learned scale is missing: multiply by self.weight", _NoWeight),
    Mistake(
        "divide by the root *mean* square: mean(x^2) over the features, not their sum",
        _NormNotMean,
    ),
    Mistake(
        "the mean runs over the wrong axis: normalise each position's features, the last axis "
        "(dim=-1)",
        _WrongAxis,
    ),
]


@recognises(RMS_MISTAKES)
def rms_norm(learner_class, *, seed: int = 0) -> None:
    """Check the learner's `RMSNorm(d_model, eps)` (a parameter `weight`) against the course's,
    which equals `transformers`' T5LayerNorm."""
    generator = torch.Generator().manual_seed(seed)
    cases = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for d_model, eps, shape in ((8, 1e-6, (2, 5, 8)), (6, 0.1, (3, 4, 6)), (16, 1e-6, (7, 16))):
            module = model_reference.RMSNorm(d_model, eps)
            torch.nn.init.normal_(module.weight, 1.0, 0.5)
            x = 3 * torch.randn(*shape, generator=generator) + 2  # a mean far from 0
            cases.append(Case((Built(module, (d_model,), {"eps": eps}), x)))
    run_module_cases(
        "RMSNorm",
        learner_class,
        cases,
        signature="RMSNorm(d_model, eps), forward(x)",
        mistakes=RMS_MISTAKES,
        atol=1e-5,
        rtol=1e-5,
    )
    passed("RMSNorm", f"matches T5's layer norm on {len(cases)} cases")


def _bucket(relative_position, bidirectional, num_buckets, max_distance, *, mistake):
    """T5's bucketing with one mistake: the catalogue below."""
    buckets = torch.zeros_like(relative_position)
    if bidirectional:
        num_buckets //= 2
        right = relative_position < 0 if mistake == "halves swapped" else relative_position > 0
        buckets = buckets + right.long() * num_buckets
        distance = relative_position.abs()
    else:
        sign = 1 if mistake == "causal sign" else -1
        distance = (sign * relative_position).clamp(min=0)
    exact = num_buckets if mistake == "no exact half" else num_buckets // 2
    exact = max(exact, 1)
    scale = max(max_distance / exact, 1.0001)
    log_ratio = torch.log(distance.clamp(min=1).float() / exact) / math.log(scale)
    far = exact + (log_ratio * (num_buckets - exact)).long()
    if mistake != "no clamp":
        far = far.clamp(max=num_buckets - 1)
    return buckets + torch.where(distance < exact, distance, far)


BUCKET_MISTAKES = [
    Mistake(
        "in the causal case the sign is flipped: the decoder's keys are at or before the query, "
        "so count the distance back, -relative_position (clamped at 0)",
        lambda *a: _bucket(*a, mistake="causal sign"),
    ),
    Mistake(
        "the two halves are swapped: keys to the right (relative_position > 0) take the upper "
        "half, num_buckets // 2 and above",
        lambda *a: _bucket(*a, mistake="halves swapped"),
    ),
    Mistake(
        "half of the (remaining) buckets are exact: distances below num_buckets // 2 each get "
        "their own bucket, the rest share log-spaced ones",
        lambda *a: _bucket(*a, mistake="no exact half"),
    ),
    Mistake(
        "far distances must stay in the last bucket: clamp the log-spaced buckets at "
        "num_buckets - 1",
        lambda *a: _bucket(*a, mistake="no clamp"),
    ),
]


@recognises(BUCKET_MISTAKES)
def relative_position_bucket(learner_fn) -> None:
    """Check `relative_position_bucket(relative_position, bidirectional, num_buckets,
    max_distance)` against T5's bucketing on distances -300 ... 300, both directions."""
    fn = require_function(learner_fn, "relative_position_bucket")
    distances = torch.arange(-300, 301)[None, :]
    cases = [
        Case((distances, bidirectional, num_buckets, max_distance), label=label)
        for num_buckets, max_distance in ((32, 128), (16, 40), (8, 20))
        for bidirectional in (True, False)
        for label in [
            f"distances -300..300, bidirectional={bidirectional}, num_buckets={num_buckets}, "
            f"max_distance={max_distance}"
        ]
    ]
    run_cases(
        "relative_position_bucket",
        fn,
        model_reference.relative_position_bucket,
        cases,
        signature="relative_position_bucket(relative_position, bidirectional, num_buckets, "
        "max_distance)",
        mistakes=BUCKET_MISTAKES,
        atol=0,
        rtol=0,
        differentiable=False,
        dtype_advice="return integer bucket indices",
    )
    passed("relative_position_bucket", f"T5's buckets for every distance on {len(cases)} cases")


# --- T5's attention ------------------------------------------------------------------------------

ATTENTION_SIGNATURE = "T5Attention(d_model, heads, d_kv), forward(x, memory=None, bias=None)"


class _AttentionWith(model_reference.T5Attention):
    """The course's T5 attention written out, with one knob turned."""

    knobs: dict = {}

    def forward(self, x, memory=None, bias=None):
        knobs = self.knobs
        memory = x if memory is None or knobs.get("self_only") else memory
        q = split_heads(self.query(x), self.heads)
        k = split_heads(self.key(memory), self.heads)
        v = split_heads(self.value(memory), self.heads)
        scores = q @ k.transpose(-2, -1)
        if knobs.get("scaled"):
            scores = scores / math.sqrt(q.shape[-1])
        if bias is not None and knobs.get("bias") == "before":
            scores = scores + bias
        weights = scores.softmax(-1)
        if bias is not None and knobs.get("bias") == "after":
            weights = weights + bias
        return self.output(merge_heads(weights @ v))


def _attention_with(**knobs) -> type:
    return type("WrongT5Attention", (_AttentionWith,), {"knobs": {"bias": "before", **knobs}})


ATTENTION_MISTAKES = [
    Mistake(
        "the scores are divided by sqrt(d_kv): T5 does not scale them (its initialisation "
        "already accounts for it), so use q @ k.transpose(-2, -1) as it is",
        _attention_with(scaled=True),
    ),
    Mistake(
        "the bias is not used: add it to the scores before the softmax (it carries both the "
        "relative positions and the masks)",
        _attention_with(bias=None),
    ),
    Mistake(
        "the bias is added after the softmax: add it to the scores, so that a very negative "
        "bias (a mask) gives a weight of 0",
        _attention_with(bias="after"),
    ),
    Mistake(
        "the keys and values come from x even when memory is given: in cross-attention the "
        "queries come from x and the keys and values from memory (the encoder's output)",
        _attention_with(self_only=True),
    ),
]


@recognises(ATTENTION_MISTAKES)
def t5_attention(learner_class, *, seed: int = 0) -> None:
    """Check the learner's `T5Attention` (no biases, no 1/sqrt(d_kv), an additive bias) against
    the course's, itself equal to `transformers`' T5Attention with the same weights."""
    generator = torch.Generator().manual_seed(seed)
    cases = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for d_model, heads, d_kv, lq, lk, kind in (
            (16, 4, 4, 5, 5, "self"),
            (16, 2, 6, 4, 4, "cross"),
            (8, 2, 4, 3, 6, "cross"),
            (8, 4, 2, 6, 6, "self, no bias"),
        ):
            module = model_reference.T5Attention(d_model, heads, d_kv)
            x = torch.randn(2, lq, d_model, generator=generator)
            bias = 2 * torch.randn(1, heads, lq, lk, generator=generator)
            mask = torch.rand(2, 1, 1, lk, generator=generator) > 0.2
            mask[..., 0] = True
            options = {} if kind.endswith("no bias") else {"bias": masked_bias(bias, mask)}
            if kind == "cross":
                options["memory"] = torch.randn(2, lk, d_model, generator=generator)
            cases.append(Case((Built(module, (d_model, heads, d_kv)), x), options))
    run_module_cases(
        "T5Attention",
        learner_class,
        cases,
        signature=ATTENTION_SIGNATURE,
        mistakes=ATTENTION_MISTAKES,
        atol=1e-4,
        rtol=1e-4,
    )
    passed(
        "T5Attention", f"matches the course's T5 attention with its weights on {len(cases)} cases"
    )


# --- mixing the tasks (notebook 07b) -------------------------------------------------------------

MIXING_SIGNATURE = "mixing_rates(sizes, cap=None, temperature=1.0)"
MIXING_CASES = [
    ({"translate": 5200, "topic": 541, "question": 438}, {}),
    ({"translate": 5200, "topic": 541, "question": 438}, {"cap": 2000}),
    ({"translate": 5200, "topic": 541, "question": 438}, {"cap": 2000, "temperature": 3.0}),
    ({"big": 90, "small": 10}, {"temperature": 2.0}),
    ({"big": 90, "small": 10}, {"cap": 50, "temperature": 0.5}),
    ({"a": 300, "b": 1200, "c": 60, "d": 640}, {"temperature": float("inf")}),
    ({"only": 7}, {"cap": 3}),
]


def _mixing(sizes, cap=None, temperature=1.0, *, mistake=None):
    """`t5_data.mixing_rates` with one mistake: the catalogue below."""
    capped = {name: size if cap is None else min(size, cap) for name, size in sizes.items()}
    if mistake == "cap ignored":
        capped = dict(sizes)
    if mistake == "power T":
        weights = {name: size**temperature for name, size in capped.items()}
    elif mistake == "divided by T":
        weights = {name: size / temperature for name, size in capped.items()}
    elif mistake == "cap after power":
        weights = {
            name: size ** (1 / temperature) if cap is None else min(size ** (1 / temperature), cap)
            for name, size in sizes.items()
        }
    else:
        weights = {name: size ** (1 / temperature) for name, size in capped.items()}
    if mistake == "not normalised":
        return weights
    total = sum(weights.values())
    if mistake == "normalised by the sizes":
        total = sum(sizes.values()) ** (1 / temperature)
    return {name: weight / total for name, weight in weights.items()}


MIXING_MISTAKES = [  # in this order: with T = 1 "cap after power" is right, without a cap "cap
    # ignored" is; the first mistake that gives the learner's rates names it
    Mistake(
        "cap first, then the power: min(size, cap) ** (1 / temperature), not the other way round",
        lambda *a, **k: _mixing(*a, **k, mistake="cap after power"),
    ),
    Mistake(
        "the cap is not applied: a task counts as min(size, cap) examples before the temperature",
        lambda *a, **k: _mixing(*a, **k, mistake="cap ignored"),
    ),
    Mistake(
        "the temperature goes in as a power of 1 / T: size ** (1 / temperature); yours raises to "
        "the power T, which makes big tasks bigger",
        lambda *a, **k: _mixing(*a, **k, mistake="power T"),
    ),
    Mistake(
        "dividing the sizes by T changes nothing once they are normalised: the temperature is "
        "a power, size ** (1 / temperature)",
        lambda *a, **k: _mixing(*a, **k, mistake="divided by T"),
    ),
    Mistake(
        "the rates must add up to 1: divide each weight by the sum of all the weights",
        lambda *a, **k: _mixing(*a, **k, mistake="not normalised"),
    ),
    Mistake(
        "normalise by the sum of the weights you computed (capped, raised to 1 / T), not by "
        "the sum of the sizes",
        lambda *a, **k: _mixing(*a, **k, mistake="normalised by the sizes"),
    ),
]


def _same_rates(got, expected, tolerance=1e-6) -> bool:
    return (
        isinstance(got, dict)
        and set(got) == set(expected)
        and all(
            isinstance(value, (int, float)) and abs(value - expected[name]) <= tolerance
            for name, value in got.items()
        )
    )


def _compare_shares(where: str, got, expected: dict, wrong_results, key_name: str) -> None:
    """Fail with the most specific message when `got` (the learner's dict key -> share) differs
    from `expected`: wrong type, wrong keys, the result of a known mistake (`wrong_results`:
    (hint, that mistake's result) pairs, tried in order), or the values."""
    if _same_rates(got, expected):
        return
    if not isinstance(got, dict):
        raise CheckFailed(
            f"{where} should return a dict {key_name} -> share, got {type(got).__name__} "
            f"{got!r:.80}"
        )
    if set(got) != set(expected):
        raise CheckFailed(
            f"{where} should have one entry per {key_name}, {sorted(expected)}; got {sorted(got)}"
        )
    for hint, result in wrong_results:
        if _same_rates(got, result):
            raise CheckFailed(f"{where}: {hint}")
    shown = {key: round(float(value), 4) for key, value in got.items()}
    expected_shown = {key: round(value, 4) for key, value in expected.items()}
    raise CheckFailed(f"{where} should be {expected_shown}, got {shown}")


@recognises(MIXING_MISTAKES)
def mixing_rates(learner_fn) -> None:
    """Check `mixing_rates(sizes, cap=None, temperature=1.0)` against `t5_data.mixing_rates` on
    proportional, capped, temperature and equal mixing, and its refusal of a temperature <= 0."""
    fn = require_function(learner_fn, "mixing_rates")
    for sizes, settings in MIXING_CASES:
        where = (
            "mixing_rates("
            + ", ".join([repr(sizes)] + [f"{key}={value}" for key, value in settings.items()])
            + ")"
        )
        got = call_plainly(fn, "mixing_rates", where, MIXING_SIGNATURE, dict(sizes), **settings)
        _compare_shares(
            where,
            got,
            reference.mixing_rates(sizes, **settings),
            ((m.hint, m.wrong_implementation(sizes, **settings)) for m in MIXING_MISTAKES),
            "task",
        )
    for bad in (0.0, -1.0):
        try:
            fn({"a": 10, "b": 20}, temperature=bad)
        except ValueError:
            continue
        except Exception as error:  # noqa: BLE001 - any other error is the learner's to fix
            raise CheckFailed(
                f"mixing_rates(..., temperature={bad}) raised {type(error).__name__}: {error}; a "
                "temperature that is not positive should raise ValueError"
            ) from None
        raise CheckFailed(
            f"mixing_rates(..., temperature={bad}) returned instead of raising: 1 / T makes no "
            "sense for T <= 0; raise ValueError"
        )
    passed(
        "mixing_rates",
        f"proportional, capped, temperature and equal rates right on {len(MIXING_CASES)} cases, "
        "T <= 0 refused",
    )


# --- closed-book answers by kind (notebook 07c) --------------------------------------------------

KIND_SIGNATURE = "accuracy_by_kind(answers, examples)"


def _kind_cases():
    def ask(kind, answer):
        return {"question": f"what is the {kind} of x?", "answer": answer, "kind": kind}

    examples = [
        ask("capital", "tokyo"),
        ask("currency", "yen"),
        ask("capital", "paris"),
        ask("language", "french"),
        ask("capital", "rome"),
        ask("currency", "euro"),
    ]
    return [
        (["tokyo", "yen", "lyon", "french", "rome", "dollar"], examples),
        ([" Tokyo", "yen ", "PARIS", "german", "rome", "euro"], examples),
        (["a", "b", "c", "d", "e", "f"], examples),
        (["tokyo"], examples[:1]),
    ]


def _by_kind(answers, examples, *, mistake=None):
    right, asked = {}, {}
    for answer, example in zip(answers, examples, strict=True):
        kind = example["kind"]
        asked[kind] = asked.get(kind, 0) + 1
        got, expected = answer, example["answer"]
        if mistake != "no strip":
            got, expected = got.strip(), expected.strip()
        if mistake != "case":
            got, expected = got.lower(), expected.lower()
        right[kind] = right.get(kind, 0) + int(got == expected)
    if mistake == "counts":
        return {kind: float(right[kind]) for kind in asked}
    if mistake == "percent":
        return {kind: 100 * right[kind] / asked[kind] for kind in asked}
    if mistake == "over all questions":
        return {kind: right[kind] / len(examples) for kind in asked}
    return {kind: right[kind] / asked[kind] for kind in asked}


KIND_MISTAKES = [
    Mistake(
        "divide each kind's right answers by the number of questions of that kind, not by all "
        "the questions",
        lambda answers, examples: _by_kind(answers, examples, mistake="over all questions"),
    ),
    Mistake(
        "return shares from 0 to 1, not percentages",
        lambda answers, examples: _by_kind(answers, examples, mistake="percent"),
    ),
    Mistake(
        "return the share of right answers, not their count",
        lambda answers, examples: _by_kind(answers, examples, mistake="counts"),
    ),
    Mistake(
        "spaces at the ends should not count: compare answer.strip() with the reference",
        lambda answers, examples: _by_kind(answers, examples, mistake="no strip"),
    ),
    Mistake(
        "letter case should not count: compare in lower case ('Tokyo' is right for 'tokyo')",
        lambda answers, examples: _by_kind(answers, examples, mistake="case"),
    ),
]


@recognises(KIND_MISTAKES)
def accuracy_by_kind(learner_fn) -> None:
    """Check `accuracy_by_kind(answers, examples)` against `t5_training.accuracy_by_kind`."""
    fn = require_function(learner_fn, "accuracy_by_kind")
    cases = _kind_cases()
    for answers, examples in cases:
        where = f"accuracy_by_kind({answers!r}, <{len(examples)} questions>)"
        got = call_plainly(
            fn, "accuracy_by_kind", where, KIND_SIGNATURE, list(answers), list(examples)
        )
        _compare_shares(
            where,
            got,
            t5_training.accuracy_by_kind(answers, examples),
            ((m.hint, m.wrong_implementation(answers, examples)) for m in KIND_MISTAKES),
            "kind of question",
        )
    passed("accuracy_by_kind", f"right on {len(cases)} sets of answers (case and spaces ignored)")
