"""Checks for notebook 07 (T5): span corruption, writing each task as text, RMSNorm (against the
course's, equal to `transformers`' T5LayerNorm) and the relative position buckets.

Span corruption is random, so its check is partly statistical: over a few hundred sequences the
share of hidden tokens must be close to `noise_density` and the mean span length close to
`mean_span_length` (tolerances stated in the messages); every single draw must obey the exact
rules (one sentinel per span, in order, targets listing each sentinel and its tokens, input and
target together giving back the original).
"""

from __future__ import annotations

import itertools
import math
import random
import re

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
    swapped_inputs,
    swapped_submodules,
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


# The hints of span_corruption's messages, each naming one mistake of the catalogue below.
NOTHING_HIDDEN = (
    "nothing was hidden: T5 hides round(length × noise_density) tokens, at least one, in every "
    "sequence (even a short one)"
)
SENTINELS_IN_ORDER = (
    "the k-th hidden span gets sentinels[k], each used once, in order (sentinels[0], "
    "sentinels[1], ...)"
)
SENTINELS_FROM_ONE = (
    "the first span gets sentinels[0], not sentinels[1]: count the spans from 0 (an off-by-one)"
)
SENTINELS_FROM_THE_END = (
    "the sentinels are taken from the end of the list: the k-th span gets sentinels[k], counted "
    "from the start (the list is already in the order to use)"
)
TARGET_SENTINELS = (
    "the targets should list the same sentinels as the inputs, in the same order, each one "
    "followed by the tokens it hides"
)
SENTINEL_FIRST = (
    "each sentinel comes before the tokens it hides: the targets start with the first sentinel, "
    "then its tokens, then the next sentinel"
)
ONE_PER_SPAN = (
    "one span gets one sentinel: neighbouring hidden tokens form one span, so only the first "
    "token of a span gets a sentinel"
)
HIDDEN_KEPT = (
    "the hidden tokens are still in the inputs: replace each span by its sentinel, and keep its "
    "tokens only in the targets"
)
TOKENS_LOST = (
    "every token belongs to exactly one of them: each visible token to the inputs, each hidden "
    "one to the targets after its sentinel"
)
DENSITY_OF_STARTS = (
    "noise_density is the share of tokens hidden, not the share of tokens that START a span: "
    "hide round(length × noise_density) tokens in all, in spans of mean_span_length on average"
)
DENSITY_IGNORED = (
    "Use the noise_density argument: the share hidden stays at the default 15% whatever "
    "noise_density says"
)
ONE_BY_ONE = (
    "The tokens are hidden one by one, as BERT does: T5 hides spans, mean_span_length tokens long "
    "on average"
)
SPAN_LENGTH_IGNORED = (
    "Use the mean_span_length argument: the spans stay 3 tokens long on average whatever "
    "mean_span_length says"
)
NOT_SPREAD = (
    "the spans are not spread over the sequence: place them at random positions over the whole "
    "sequence"
)
NOT_REPRODUCIBLE = (
    "draw every random number from the `rng` argument (rng.random(), rng.sample(...)), so that "
    "the corruption is reproducible"
)
NOT_RANDOM = (
    "choose the spans at random with the `rng` argument, not by a fixed rule or a seed of your own"
)


def _sentinel_hint(used: list[int]) -> str:
    """Why the sentinels in the inputs, `used`, are not sentinels[0], sentinels[1], ..."""
    if used == SENTINELS[1 : len(used) + 1]:
        return SENTINELS_FROM_ONE
    if used == SENTINELS[::-1][: len(used)]:
        return SENTINELS_FROM_THE_END
    return SENTINELS_IN_ORDER


def _spans(where: str, tokens: list[int], inputs: list[int], targets: list[int]) -> list[int]:
    """The exact rules for one draw; returns the length of each hidden span."""
    in_sentinels = [t for t in inputs if t in SENTINELS]
    out_sentinels = [t for t in targets if t in SENTINELS]
    if not in_sentinels:
        raise CheckFailed(f"{where}: the inputs contain no sentinel: {NOTHING_HIDDEN}")
    if in_sentinels != SENTINELS[: len(in_sentinels)]:
        raise CheckFailed(
            f"{where}: the inputs use the sentinels {in_sentinels[:6]}...: "
            f"{_sentinel_hint(in_sentinels)}"
        )
    if out_sentinels != in_sentinels:
        raise CheckFailed(
            f"{where}: {TARGET_SENTINELS} (inputs: {in_sentinels[:6]}, targets: "
            f"{out_sentinels[:6]})"
        )
    if targets[0] not in SENTINELS:
        raise CheckFailed(f"{where}: the targets start with {targets[:4]}: {SENTINEL_FIRST}")
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
            f"{where}: two sentinels are next to each other in the inputs: {ONE_PER_SPAN}"
        )
    restored = reference.reconstruct(inputs, targets, SENTINELS)
    if restored != tokens:
        held = len(inputs) + len(targets) - 2 * len(in_sentinels)  # non-sentinel tokens
        if [t for t in inputs if t not in SENTINELS] == tokens:
            hint = HIDDEN_KEPT
        elif held == len(tokens):
            hint = "the hidden tokens don't go back where they came from"
        else:
            hint = (
                f"{len(tokens)} tokens went in, but inputs and targets hold {held} non-sentinel "
                f"tokens: {TOKENS_LOST}"
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


def _noise_mask(length: int, noise_density, mean_span_length, rng, mistake) -> list[bool]:
    """Which positions are hidden, as `t5_data.random_spans`, or with one of the mistakes below."""
    if mistake == "nothing hidden in short sequences" and round(length * noise_density) == 0:
        return [False] * length  # round(length × noise_density) without "at least one"
    if mistake == "one by one":
        mean_span_length = 1.0
    mask = reference.random_spans(length, noise_density, mean_span_length, rng)
    if mistake == "spans at the end":  # the same spans, one after another at the end
        tail = []
        for hidden, run in itertools.groupby(mask):
            if hidden:
                tail += [True] * len(list(run)) + [False]
        mask = [False] * (length - len(tail) + 1) + tail[:-1]
    return mask


def _corruption_with(mistake: str):
    """`span_corruption` in the learner's form, with one mistake: the catalogue below."""

    def span_corruption(tokens, sentinels, rng, noise_density=0.15, mean_span_length=3.0):
        if mistake == "global random":
            rng = random  # the module: the same methods, but not the rng the caller gave
        elif mistake == "own seed":
            rng = random.Random(0)
        if mistake == "density ignored":
            noise_density = 0.15
        elif mistake == "span length ignored":
            mean_span_length = 3.0
        elif mistake == "density of span starts":
            noise_density *= mean_span_length
        mask = _noise_mask(len(tokens), noise_density, mean_span_length, rng, mistake)
        inputs, spans = [], []  # spans: (sentinel, the tokens it hides)
        for position, (token, hidden) in enumerate(zip(tokens, mask, strict=True)):
            after_span = position > 0 and mask[position - 1]
            if hidden and (not after_span or mistake == "a sentinel per token"):
                k = len(spans)
                index = {"same sentinel": 0, "from 1": k + 1, "from the end": -1 - k}.get(
                    mistake, k
                )
                spans.append((sentinels[index], []))
                inputs.append(sentinels[index])
            if hidden:
                spans[-1][1].append(token)
            if (not hidden and not (after_span and mistake == "token after a span lost")) or (
                hidden and mistake == "hidden tokens kept"
            ):
                inputs.append(token)
        targets = []
        for sentinel, hidden in spans:
            if mistake == "no sentinels in the targets":
                targets += hidden
            elif mistake == "sentinel after its tokens":
                targets += [*hidden, sentinel]
            else:
                targets += [sentinel, *hidden]
        return inputs, targets

    return span_corruption


SPAN_MISTAKES = [
    Mistake(NOTHING_HIDDEN, _corruption_with("nothing hidden in short sequences")),
    Mistake(SENTINELS_IN_ORDER, _corruption_with("same sentinel")),
    Mistake(SENTINELS_FROM_ONE, _corruption_with("from 1")),
    Mistake(SENTINELS_FROM_THE_END, _corruption_with("from the end")),
    Mistake(TARGET_SENTINELS, _corruption_with("no sentinels in the targets")),
    Mistake(SENTINEL_FIRST, _corruption_with("sentinel after its tokens")),
    Mistake(ONE_PER_SPAN, _corruption_with("a sentinel per token")),
    Mistake(HIDDEN_KEPT, _corruption_with("hidden tokens kept")),
    Mistake(TOKENS_LOST, _corruption_with("token after a span lost")),
    Mistake(DENSITY_OF_STARTS, _corruption_with("density of span starts")),
    Mistake(DENSITY_IGNORED, _corruption_with("density ignored")),
    Mistake(ONE_BY_ONE, _corruption_with("one by one")),
    Mistake(SPAN_LENGTH_IGNORED, _corruption_with("span length ignored")),
    Mistake(NOT_SPREAD, _corruption_with("spans at the end")),
    Mistake(NOT_REPRODUCIBLE, _corruption_with("global random")),
    Mistake(NOT_RANDOM, _corruption_with("own seed")),
]


@recognises(SPAN_MISTAKES)
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
            if abs(rate - density * mean) < 0.05:
                hint = f"{rate:.0%} is about {density:.0%} × {mean:g}: {DENSITY_OF_STARTS}."
            elif settings and abs(rate - 0.15) <= 0.02:  # the default, whatever was asked
                hint = f"{DENSITY_IGNORED}."
            else:
                hint = "Use the noise_density argument."
            raise CheckFailed(
                f"span_corruption with {described} hid {rate:.1%} of the tokens; it should hide "
                f"{density:.0%} (tolerance ±2 points). {hint}"
            )
        if abs(span_length - mean) > 0.5:
            if span_length < 1.3:
                hint = f"{ONE_BY_ONE}."
            elif settings and abs(span_length - 3.0) <= 0.5:  # the default, whatever was asked
                hint = f"{SPAN_LENGTH_IGNORED}."
            else:
                hint = "Use the mean_span_length argument."
            raise CheckFailed(
                f"span_corruption with {described}: the hidden spans are {span_length:.2f} tokens "
                f"long on average; they should be about {mean:g} (tolerance ±0.5). {hint}"
            )
        first, second = halves
        if min(first, second) < 0.25 * (first + second):
            side = "first" if first < second else "second"
            raise CheckFailed(
                f"span_corruption with {described}: only "
                f"{min(first, second) / (first + second):.0%} "
                f"of the hidden tokens are in the {side} half of the sequences: {NOT_SPREAD}"
            )

    tokens = list(range(10, 110))
    first = _corrupt(fn, tokens, random.Random(5))[1:]
    again = _corrupt(fn, tokens, random.Random(5))[1:]
    if first != again:
        raise CheckFailed(
            f"span_corruption gave different results for the same rng seed: {NOT_REPRODUCIBLE}"
        )
    if all(_corrupt(fn, tokens, random.Random(seed))[1:] == first for seed in range(6, 10)):
        raise CheckFailed(
            f"span_corruption gave the same result for five different rng seeds: {NOT_RANDOM}"
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
    (  # 3.75 rounds up to 3.8: rounding down gives 3.6
        "similarity",
        {
            "sentence1": "seven hundred and seven",
            "sentence2": "seven hundred and one",
            "score": 3.75,
        },
    ),
)

# The hints of format_example's messages, each naming one mistake of the catalogue below.
ENDS_DIFFER = "only spaces at the ends differ"
SPACES_DIFFER = "only the spaces differ: one space after each colon"
CASE_DIFFERS = "only the letter case differs: copy the prefix exactly as the table writes it"
SEPARATOR_DIFFERS = (
    "the separators differ: a colon and one space follow the prefix and each field name, as in "
    "'summarize: ...' and 'sentence1: ...'"
)
PREFIX_MISSING = (
    "the task prefix is missing: start the input with it, as in 'summarize: ...', so that the "
    "model knows the task"
)
PREFIX_DIFFERS = (
    "the task prefix differs: copy it exactly from the table, up to its colon, as in 'translate "
    "English to French: ...'"
)
FIELDS_IN_ANOTHER_ORDER = (
    "the same words in another order: put the fields in the order of the table, 'similarity "
    "sentence1: ... sentence2: ...'"
)
PAIR_REVERSED = "the pair is the other way round: return (input text, target text), input first"
FIELDS_SWAPPED = (
    "the input and the target hold each other's field: the input holds what the model reads "
    "(for translate, the English), the target what it should write (the French)"
)
NOT_TEXT = "a target is text too: write numbers with f'{score:.1f}'"
WRITTEN_DIFFERENTLY = "the right number, written differently: use one decimal, f'{x:.1f}'"
ROUNDED_DOWN = (
    "rounded down: round to the nearest multiple of 0.2, round(score * 5) / 5, not "
    "int(score * 5) / 5"
)
NOT_ROUNDED_TO_02 = (
    "rounded to 0.1, or not rounded: STS-B targets are multiples of 0.2: round(score * 5) / 5"
)
UNKNOWN_ACCEPTED = (
    "an unknown task should raise ValueError naming the known tasks, so that a typo is not "
    "trained on"
)
UNKNOWN_OTHER_ERROR = (
    "an unknown task should raise ValueError naming the tasks: check `task` yourself before "
    "looking anything up"
)


def _tie(score: float) -> bool:
    """True when score * 5 sits (within float error) halfway between two integers."""
    scaled = score * 5
    return abs(abs(scaled - int(scaled)) - 0.5) < 1e-9


def _separated(text: str) -> str:
    """`text` with every colon, dash or bar between words, and every run of spaces, as one space."""
    return re.sub(r"\s*[:|–-]+\s*|\s+", " ", text).strip()


def _input_hint(got: str, expected: str) -> str:
    """How the learner's input text differs from the expected one, in words, or ""."""
    expected_prefix, _, expected_rest = expected.partition(":")
    got_prefix, _, got_rest = got.partition(":")
    if got.strip() == expected.strip():
        return ENDS_DIFFER
    if got.replace(" ", "") == expected.replace(" ", ""):
        return SPACES_DIFFER
    if got.lower() == expected.lower():
        return CASE_DIFFERS
    if _separated(got) == _separated(expected):
        return SEPARATOR_DIFFERS
    if got and expected.endswith(got):
        return PREFIX_MISSING
    if got_rest == expected_rest and got_prefix != expected_prefix:
        return PREFIX_DIFFERS
    if sorted(got.split()) == sorted(expected.split()):
        return FIELDS_IN_ANOTHER_ORDER
    return ""


def _target_hint(got: str, expected: str, score: float) -> str:
    """How the learner's similarity target differs from the expected one, in words."""
    try:
        value = float(got)
    except ValueError:
        return "the nearest multiple of 0.2, with one decimal"
    if abs(value - float(expected)) < 1e-6:
        return WRITTEN_DIFFERENTLY
    if abs(value - math.floor(score * 5 + 1e-9) / 5) < 1e-6:
        return ROUNDED_DOWN
    if abs(value - score) < 0.051:
        return NOT_ROUNDED_TO_02
    return "the nearest multiple of 0.2, with one decimal"


def _formatting_with(mistake: str):
    """`format_example` in the learner's form, with one mistake: the catalogue below."""

    def format_example(task, example):
        if task not in reference.TASKS and mistake == "unknown task accepted":
            return f"{task}: ", ""
        if task not in reference.TASKS and mistake == "KeyError for an unknown task":
            raise KeyError(task)
        if task == "translate" and mistake == "French to English":
            example = {"english": example["french"], "french": example["english"]}
        if task == "similarity" and mistake == "sentences swapped":
            example = {
                **example,
                "sentence1": example["sentence2"],
                "sentence2": example["sentence1"],
            }
        source, target = reference.to_text(task, example)
        prefix, _, text = source.partition(": ")
        changed = {
            "two spaces": f"{prefix}:  {text}",
            "no colon": f"{prefix} {text}",
            "capitalised": source[0].upper() + source[1:],
            "no prefix": text,
            "short prefix": f"{task}: {text}",
        }
        source = changed.get(mistake, source)
        if task == "similarity":
            score = example["score"]
            target = {
                "rounded to 0.1": f"{score:.1f}",
                "two decimals": f"{round(score * 5) / 5:.2f}",
                "rounded down": f"{int(score * 5) / 5:.1f}",
                "a number": round(score * 5) / 5,
            }.get(mistake, target)
        return (target, source) if mistake == "pair reversed" else (source, target)

    return format_example


FORMAT_MISTAKES = [
    Mistake(SPACES_DIFFER, _formatting_with("two spaces")),
    Mistake(SEPARATOR_DIFFERS, _formatting_with("no colon")),
    Mistake(CASE_DIFFERS, _formatting_with("capitalised")),
    Mistake(PREFIX_MISSING, _formatting_with("no prefix")),
    Mistake(PREFIX_DIFFERS, _formatting_with("short prefix")),
    Mistake(FIELDS_IN_ANOTHER_ORDER, _formatting_with("sentences swapped")),
    Mistake(FIELDS_SWAPPED, _formatting_with("French to English")),
    Mistake(PAIR_REVERSED, _formatting_with("pair reversed")),
    Mistake(NOT_ROUNDED_TO_02, _formatting_with("rounded to 0.1")),
    Mistake(WRITTEN_DIFFERENTLY, _formatting_with("two decimals")),
    Mistake(ROUNDED_DOWN, _formatting_with("rounded down")),
    Mistake(NOT_TEXT, _formatting_with("a number")),
    Mistake(UNKNOWN_ACCEPTED, _formatting_with("unknown task accepted")),
    Mistake(UNKNOWN_OTHER_ERROR, _formatting_with("KeyError for an unknown task")),
]


@recognises(FORMAT_MISTAKES)
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
        if (got_input, got_target) == (expected_target, expected_input):
            raise CheckFailed(f"{where} returned ({got_input!r}, {got_target!r}): {PAIR_REVERSED}")
        if not isinstance(got_input, str) or not isinstance(got_target, str):
            raise CheckFailed(
                f"{where} should return two strings, got "
                f"({type(got_input).__name__}, {type(got_target).__name__}): {NOT_TEXT}"
            )
        if got_target != expected_target and (
            expected_target in got_input and got_target and got_target in expected_input
        ):
            raise CheckFailed(f"{where} returned ({got_input!r}, {got_target!r}): {FIELDS_SWAPPED}")
        if got_input != expected_input:
            hint = _input_hint(got_input, expected_input)
            raise CheckFailed(
                f"{where}: the input should be {expected_input!r}, got {got_input!r}"
                + (f" ({hint})" if hint else "")
            )
        if got_target != expected_target:
            if task == "similarity" and _tie(example["score"]):
                low = f"{(int(example['score'] * 5)) / 5:.1f}"
                high = f"{(int(example['score'] * 5) + 1) / 5:.1f}"
                if got_target in (low, high):
                    continue  # halfway: either neighbour is fine
            hint = ""
            if task == "similarity":
                hint = f" ({_target_hint(got_target, expected_target, example['score'])})"
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
            f"{type(error).__name__}: {error}; {UNKNOWN_OTHER_ERROR}"
        ) from None
    else:
        raise CheckFailed(
            f"format_example('translate Klingon', ...) returned instead of raising: "
            f"{UNKNOWN_ACCEPTED}"
        )
    passed(
        "format_example",
        f"all five tasks formatted right on {len(FORMAT_CASES)} examples, unknown task refused",
    )


# --- RMSNorm and the relative position buckets ---------------------------------------------------


class _RMSNormWith(model_reference.RMSNorm):
    """The course's RMSNorm written out, with one mistake (`mistake`, the catalogue below)."""

    mistake = ""

    def forward(self, x):
        mistake = self.mistake
        if mistake == "mean subtracted":
            x = x - x.mean(-1, keepdim=True)
        square = x.pow(2)
        if mistake == "sum":
            mean_square = square.sum(-1, keepdim=True)
        elif mistake == "wrong axis":
            mean_square = square.mean(1, keepdim=True)
        elif mistake == "whole tensor":
            mean_square = square.mean()
        elif mistake == "no keepdim":
            mean_square = square.mean(-1)
        else:
            mean_square = square.mean(-1, keepdim=True)
        eps = 0.0 if mistake == "no eps" else self.eps
        if mistake == "eps outside":
            rms = mean_square.sqrt() + eps
        elif mistake == "no square root":
            rms = mean_square + eps
        else:
            rms = (mean_square + eps).sqrt()
        normed = x * rms if mistake == "multiplied" else x / rms
        return normed if mistake == "no weight" else self.weight * normed


def _rms_norm_with(mistake: str) -> type:
    return type("WrongRMSNorm", (_RMSNormWith,), {"mistake": mistake})


RMS_MISTAKES = [
    Mistake(
        "RMSNorm does not subtract the mean (that is LayerNorm): divide x itself by "
        "sqrt(mean(x^2) + eps)",
        _rms_norm_with("mean subtracted"),
    ),
    Mistake(
        "eps goes inside the square root: x / sqrt(mean(x^2) + eps), as T5LayerNorm computes it",
        _rms_norm_with("eps outside"),
    ),
    Mistake("the learned scale is missing: multiply by self.weight", _rms_norm_with("no weight")),
    Mistake(
        "divide by the root *mean* square: mean(x^2) over the features, not their sum",
        _rms_norm_with("sum"),
    ),
    Mistake(
        "the mean runs over the wrong axis: normalise each position's features, the last axis "
        "(dim=-1)",
        _rms_norm_with("wrong axis"),
    ),
    Mistake(
        "the mean runs over the whole tensor: take it over each position's features only, "
        "x.pow(2).mean(-1, keepdim=True)",
        _rms_norm_with("whole tensor"),
    ),
    Mistake(
        "the mean square lost its last axis: keep it with mean(-1, keepdim=True), so that each "
        "position is divided by its own root mean square",
        _rms_norm_with("no keepdim"),
    ),
    Mistake(
        "eps is missing: add it to the mean square before the square root, sqrt(mean(x^2) + eps), "
        "which keeps the division safe when x is near 0",
        _rms_norm_with("no eps"),
    ),
    Mistake(
        "the square root is missing: divide by sqrt(mean(x^2) + eps), the root of the mean square",
        _rms_norm_with("no square root"),
    ),
    Mistake(
        "x is multiplied by its root mean square: divide by it, x * torch.rsqrt(mean(x^2) + eps)",
        _rms_norm_with("multiplied"),
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
        if mistake != "not halved":
            num_buckets //= 2
        if mistake == "halves swapped":
            right = relative_position < 0
        elif mistake == "distance 0 on the right":
            right = relative_position >= 0
        else:
            right = relative_position > 0
        buckets = buckets + right.long() * num_buckets
        distance = relative_position if mistake == "no abs" else relative_position.abs()
    elif mistake == "causal sign":
        distance = relative_position.clamp(min=0)
    elif mistake == "causal not clamped":
        distance = -relative_position
    else:
        distance = (-relative_position).clamp(min=0)
    exact = num_buckets if mistake == "no exact half" else num_buckets // 2
    exact = max(exact, 1)
    scale = max_distance if mistake == "log of max_distance" else max(max_distance / exact, 1.0001)
    log_ratio = torch.log(distance.clamp(min=1).float() / exact) / math.log(scale)
    far = log_ratio * (num_buckets - exact)
    far = exact + (far.round() if mistake == "rounded" else far).long()
    if mistake != "no clamp":
        far = far.clamp(max=num_buckets - 1)
    buckets = buckets + torch.where(distance < exact, distance, far)
    return buckets.float() if mistake == "floats" else buckets


BUCKETS_AS_FLOATS = (
    "the buckets are floats: return integer bucket indices (torch.long), which the bias table "
    "(an nn.Embedding) looks up"
)
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
    Mistake(
        "in the bidirectional case each direction gets half of the buckets: num_buckets //= 2 "
        "before bucketing the distance, and keys to the right start at that half",
        lambda *a: _bucket(*a, mistake="not halved"),
    ),
    Mistake(
        "distance 0 (the key at the query's own position) belongs to the lower half: only "
        "relative_position > 0 takes the upper half, not >= 0",
        lambda *a: _bucket(*a, mistake="distance 0 on the right"),
    ),
    Mistake(
        "in the bidirectional case the distance is relative_position.abs(): the half already says "
        "on which side the key is",
        lambda *a: _bucket(*a, mistake="no abs"),
    ),
    Mistake(
        "in the causal case keys to the right must not give negative distances: clamp "
        "-relative_position at 0, (-relative_position).clamp(min=0)",
        lambda *a: _bucket(*a, mistake="causal not clamped"),
    ),
    Mistake(
        "the log-spaced buckets cover the distances from exact = num_buckets // 2 up to "
        "max_distance: divide log(distance / exact) by log(max_distance / exact), not by "
        "log(max_distance)",
        lambda *a: _bucket(*a, mistake="log of max_distance"),
    ),
    Mistake(
        "a far distance's bucket is truncated towards 0 (.long()), not rounded: T5 puts "
        "each distance in the bucket whose range contains it",
        lambda *a: _bucket(*a, mistake="rounded"),
    ),
    Mistake(BUCKETS_AS_FLOATS, lambda *a: _bucket(*a, mistake="floats")),
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
        dtype_advice=BUCKETS_AS_FLOATS,
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
        weights = scores.softmax(knobs.get("softmax_dim", -1))
        if bias is not None and knobs.get("bias") == "after":
            weights = weights + bias
        out = weights @ v  # (B, h, Lq, d_kv)
        if knobs.get("merged_without_transpose"):
            merged = out.reshape(out.shape[0], out.shape[2], -1)
        else:
            merged = merge_heads(out)
        return merged if knobs.get("no_output") else self.output(merged)


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
    Mistake(
        "the softmax runs over the queries: normalise each query's scores over the keys, the "
        "last axis, softmax(dim=-1)",
        _attention_with(softmax_dim=-2),
    ),
    Mistake(
        "the heads are merged without moving the head axis: transpose (batch, heads, seq, d_kv) "
        "to (batch, seq, heads, d_kv) before reshaping to (batch, seq, heads * d_kv)",
        _attention_with(merged_without_transpose=True),
    ),
    Mistake(
        "the output projection is missing: pass the merged heads through self.output",
        _attention_with(no_output=True),
    ),
    *swapped_submodules(model_reference.T5Attention, ("query", "key"), ("key", "value")),
    *swapped_inputs(
        model_reference.T5Attention,
        ("x", "memory"),
        note=": in cross-attention the queries come from x (the decoder) and the keys and values "
        "from memory (the encoder's output)",
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
    if mistake == "zero refused, negatives not" and temperature == 0:
        raise ValueError("temperature must not be 0")
    capped = {name: size if cap is None else min(size, cap) for name, size in sizes.items()}
    if mistake == "cap ignored":
        capped = dict(sizes)
    elif mistake == "max for min" and cap is not None:
        capped = {name: max(size, cap) for name, size in sizes.items()}
    if mistake == "power T":
        weights = {name: size**temperature for name, size in capped.items()}
    elif mistake == "divided by T":
        weights = {name: size / temperature for name, size in capped.items()}
    elif mistake == "cap after power":
        weights = {
            name: size ** (1 / temperature) if cap is None else min(size ** (1 / temperature), cap)
            for name, size in sizes.items()
        }
    elif mistake == "power after normalising":  # and not normalised again
        total = sum(capped.values())
        return {name: (size / total) ** (1 / temperature) for name, size in capped.items()}
    else:
        weights = {name: size ** (1 / temperature) for name, size in capped.items()}
    if mistake == "not normalised":
        return weights
    total = sum(weights.values())
    if mistake == "normalised by the sizes":
        total = sum(sizes.values()) ** (1 / temperature)
    return _as_returned({name: weight / total for name, weight in weights.items()}, mistake)


def _as_returned(shares: dict, mistake) -> dict | list:
    """`shares` as a learner may return them: the dict itself, rounded, or a list."""
    if mistake == "rounded":
        return {key: round(share, 2) for key, share in shares.items()}
    if mistake == "list":
        return list(shares.values())
    return shares


def _mixing_with(mistake: str):
    return lambda sizes, cap=None, temperature=1.0: _mixing(
        sizes, cap, temperature, mistake=mistake
    )


def _unnamed(key_name: str) -> str:
    return f"the shares have no names: return a dict that maps each {key_name} to its share"


ROUNDED = "the shares are rounded: return them as they are (round only when you print them)"
NO_TEMPERATURE_CHECK = (
    "a temperature that is not positive should raise ValueError: check temperature <= 0 before "
    "computing anything"
)
NEGATIVE_TEMPERATURE_ACCEPTED = (
    "1 / T makes no sense for a negative T either: raise ValueError for every temperature <= 0, "
    "not only for 0"
)

MIXING_MISTAKES = [  # in this order: with T = 1 "cap after power" is right, without a cap "cap
    # ignored" is; the first mistake that gives the learner's rates names it
    Mistake(
        "cap first, then the power: min(size, cap) ** (1 / temperature), not the other way round",
        _mixing_with("cap after power"),
    ),
    Mistake(
        "the cap is not applied: a task counts as min(size, cap) examples before the temperature",
        _mixing_with("cap ignored"),
    ),
    Mistake(
        "the cap is a ceiling: a task counts as min(size, cap) examples, not max(size, cap)",
        _mixing_with("max for min"),
    ),
    Mistake(
        "the temperature goes in as a power of 1 / T: size ** (1 / temperature); yours raises to "
        "the power T, which makes big tasks bigger",
        _mixing_with("power T"),
    ),
    Mistake(
        "dividing the sizes by T changes nothing once they are normalised: the temperature is "
        "a power, size ** (1 / temperature)",
        _mixing_with("divided by T"),
    ),
    Mistake(
        "the rates must add up to 1: divide each weight by the sum of all the weights",
        _mixing_with("not normalised"),
    ),
    Mistake(
        "normalise by the sum of the weights you computed (capped, raised to 1 / T), not by "
        "the sum of the sizes",
        _mixing_with("normalised by the sizes"),
    ),
    Mistake(
        "normalise after the power: raising normalised rates to 1 / T leaves rates that do not "
        "add up to 1, so divide min(size, cap) ** (1 / T) by the sum of all of them",
        _mixing_with("power after normalising"),
    ),
    Mistake(ROUNDED, _mixing_with("rounded")),
    Mistake(_unnamed("task"), _mixing_with("list")),
    Mistake(NO_TEMPERATURE_CHECK, _mixing_with(None)),
    Mistake(NEGATIVE_TEMPERATURE_ACCEPTED, _mixing_with("zero refused, negatives not")),
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


def _rounded_from(got: dict, expected: dict) -> bool:
    """Whether each of `got`'s shares is the expected one rounded to the same number of digits."""
    return any(
        _same_rates(got, {k: round(v, digits) for k, v in expected.items()}, 1e-9)
        for digits in range(5)
    )


def _compare_shares(where: str, got, expected: dict, wrong_results, key_name: str) -> None:
    """Fail with the most specific message when `got` (the learner's dict key -> share) differs
    from `expected`: wrong type, wrong keys, the result of a known mistake (`wrong_results`:
    (hint, that mistake's result) pairs, tried in order), or the values."""
    if _same_rates(got, expected):
        return
    if not isinstance(got, dict):
        if isinstance(got, (list, tuple)):
            hint = f": {_unnamed(key_name)}"
        elif isinstance(got, (int, float)):
            hint = f": {_single_number(key_name)}"
        else:
            hint = ""
        raise CheckFailed(
            f"{where} should return a dict {key_name} -> share, got {type(got).__name__} "
            f"{got!r:.80}{hint}"
        )
    if set(got) != set(expected):
        missing = set(expected) - set(got)
        hint = ""
        if set(got) < set(expected) and all(expected[key] == 0 for key in missing):
            hint = f": {_zero_share_missing(key_name)}"
        raise CheckFailed(
            f"{where} should have one entry per {key_name}, {sorted(expected)}; got "
            f"{sorted(got)}{hint}"
        )
    for hint, result in wrong_results:
        if _same_rates(got, result):
            raise CheckFailed(f"{where}: {hint}")
    shown = {key: round(float(value), 4) for key, value in got.items()}
    expected_shown = {key: round(value, 4) for key, value in expected.items()}
    if _rounded_from(got, expected):
        raise CheckFailed(f"{where}: {ROUNDED} (got {shown}, expected {expected_shown})")
    raise CheckFailed(f"{where} should be {expected_shown}, got {shown}")


def _temperature_refused(fn, bad: float) -> None:
    """Fail unless the learner's mixing_rates raises ValueError for the temperature `bad`."""
    try:
        fn({"a": 10, "b": 20}, temperature=bad)
    except ValueError:
        return
    except Exception as error:  # noqa: BLE001 - any other error is the learner's to fix
        raise CheckFailed(
            f"mixing_rates(..., temperature={bad}) raised {type(error).__name__}: {error}; "
            f"{NO_TEMPERATURE_CHECK}"
        ) from None
    hint = NEGATIVE_TEMPERATURE_ACCEPTED if bad < 0 else NO_TEMPERATURE_CHECK
    raise CheckFailed(f"mixing_rates(..., temperature={bad}) returned instead of raising: {hint}")


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
        _temperature_refused(fn, bad)
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
        (["tokyo, japan", "the yen", "paris", "french", "rome", "euro"], examples),
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
        correct = expected in got if mistake == "contains" else got == expected
        if correct or mistake != "kinds with no right answer left out":
            right[kind] = right.get(kind, 0) + int(correct)
    if mistake == "counts":
        return {kind: float(right[kind]) for kind in asked}
    if mistake == "percent":
        return {kind: 100 * right[kind] / asked[kind] for kind in asked}
    if mistake == "over all questions":
        return {kind: right[kind] / len(examples) for kind in asked}
    if mistake == "one share for all":
        return sum(right.values()) / len(examples)
    return _as_returned({kind: right[kind] / asked[kind] for kind in right}, mistake)


def _by_kind_with(mistake: str):
    return lambda answers, examples: _by_kind(answers, examples, mistake=mistake)


def _single_number(key_name: str) -> str:
    return f"a single number: return one share per {key_name}, in a dict {key_name} -> share"


def _zero_share_missing(key_name: str) -> str:
    return f"a {key_name} whose share is 0 is missing: every {key_name} needs an entry, even at 0"


KIND_MISTAKES = [
    Mistake(
        "divide each kind's right answers by the number of questions of that kind, not by all "
        "the questions",
        _by_kind_with("over all questions"),
    ),
    Mistake("return shares from 0 to 1, not percentages", _by_kind_with("percent")),
    Mistake("return the share of right answers, not their count", _by_kind_with("counts")),
    Mistake(
        "spaces at the ends should not count: compare answer.strip() with the reference",
        _by_kind_with("no strip"),
    ),
    Mistake(
        "letter case should not count: compare in lower case ('Tokyo' is right for 'tokyo')",
        _by_kind_with("case"),
    ),
    Mistake(
        "an answer is right only when it equals the expected one (after strip() and lower()), "
        "not when it merely contains it",
        _by_kind_with("contains"),
    ),
    Mistake(
        _zero_share_missing("kind of question"),
        _by_kind_with("kinds with no right answer left out"),
    ),
    Mistake(ROUNDED, _by_kind_with("rounded")),
    Mistake(_unnamed("kind of question"), _by_kind_with("list")),
    Mistake(_single_number("kind of question"), _by_kind_with("one share for all")),
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
