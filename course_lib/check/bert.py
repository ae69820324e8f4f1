"""Checks for notebooks 06 and 06b (BERT): masking tokens for masked-language modelling, building
a next-sentence-prediction pair, and mean pooling.

Both exercises are random by nature, so the checks are statistical: they run the learner's
function on many tokens (or pairs) and test the proportions against BERT's recipe with explicit
tolerances (several standard deviations wide), and they test the exact rules that must hold for
every single draw (special tokens never chosen, labels in the right places, ...).
"""

from __future__ import annotations

import math
import random
from typing import NamedTuple

import torch
import torch.nn.functional as F

from .. import bert as reference
from .. import packages
from .. import pretraining_data as reference_data
from ..data import IGNORE_INDEX
from ..transformer import positional_encoding
from .framework import (
    Built,
    Case,
    CheckFailed,
    Mistake,
    call_plainly,
    ignored_inputs,
    passed,
    recognises,
    require_class,
    require_function,
    require_value_error,
    run_cases,
    run_module_cases,
    swapped_arguments,
    with_knobs,
    without_parameters,
)

tokenizers = packages.lazy("tokenizers", "tokenizers==0.23.3")

MASK_SIGNATURE = "mask_tokens(ids, special, mask_id, vocab_size, generator)"
NSP_SIGNATURE = "nsp_pair(documents, document, sentence, rng)"


def _mask(fn, ids, special, mask_id: int, vocab_size: int, seed: int):
    """The learner's mask_tokens on a fresh generator seeded with `seed`."""
    where = f"mask_tokens(128 × 128 tokens, mask_id={mask_id}, vocab_size={vocab_size})"
    generator = torch.Generator().manual_seed(seed)
    return call_plainly(
        fn,
        "mask_tokens",
        where,
        MASK_SIGNATURE,
        ids,
        special.clone(),
        mask_id,
        vocab_size,
        generator,
    )


def _pair(fn, documents, document: int, sentence: int, rng):
    """The learner's nsp_pair; `rng` is shared across calls, so it is not copied."""
    where = f"nsp_pair(documents, document={document}, sentence={sentence}, rng)"
    return call_plainly(fn, "nsp_pair", where, NSP_SIGNATURE, documents, document, sentence, rng)


def _mlm_batch(mask_id: int, vocab_size: int, seed: int):
    """(ids, special) of 128 rows of 128 tokens: [CLS] A [SEP] B [SEP] [PAD]..."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(10, vocab_size, (128, 128), generator=generator)
    ids[ids == mask_id] = 10  # no ordinary token spells [MASK]
    lengths = torch.randint(40, 129, (128,), generator=generator)
    split = (lengths * 0.5).long()
    for row in range(128):
        ids[row, 0] = 2  # [CLS]
        ids[row, split[row]] = 3  # [SEP]
        ids[row, lengths[row] - 1] = 3
        ids[row, lengths[row] :] = 0  # [PAD]
    special = (ids == 0) | (ids == 2) | (ids == 3)
    return ids, special


def _share(part: torch.Tensor, whole: torch.Tensor) -> float:
    return part.sum().item() / max(whole.sum().item(), 1)


# What the check says about each mistake it recognises (the catalogue below plants them).
SPECIALS_CHOSEN = (
    "special tokens ([CLS], [SEP], [PAD]) were chosen for masking; they never are: leave out the "
    "positions where `special` is True"
)
LABELS_EVERYWHERE = (
    "labels hold a token at almost every position: only the chosen ones get their original "
    "token, and -100 everywhere else (the loss ignores -100)"
)
LABELS_NOT_ORIGINAL = (
    "labels must hold the ORIGINAL token at chosen positions (not [MASK]), and -100 everywhere "
    "else (the loss ignores -100)"
)
LABELS_ALL_ORDINARY = (
    "every ordinary token has a label, though most are left as they are: only the chosen "
    "tokens (about 15%) get a label, -100 everywhere else"
)
CHOICE_NOT_SHARED = (
    "tokens that were not chosen must stay as they are in `inputs` (only chosen tokens are "
    "replaced); is your choice of positions the same for inputs and labels?"
)
RATE_REVERSED = (
    "85% is 1 - 15%: the comparison is the wrong way round, a token is chosen when its draw is "
    "below 0.15"
)
FIXED_MASK_ID = "use the mask_id argument rather than a fixed number"
ALL_MASKED = (
    "every chosen token became [MASK]; BERT keeps 10% unchanged and replaces 10% with a random "
    "token, so the model can't rely on seeing [MASK]"
)
NONE_RANDOM = (
    "no chosen token got a random token: of the 20% that are not [MASK]ed, half get "
    "torch.randint(vocab_size, ...) and half stay as they are"
)
NONE_UNCHANGED = (
    "no chosen token stayed as it was: of the 20% that are not [MASK]ed, only half get a random "
    "token, the other half keep their own"
)
TOO_FEW_RANDOM = (
    "about 2% got a random token, 10% of the 20% left: of the tokens that are not [MASK]ed, "
    "HALF get a random token (a draw below 0.5), not 10%"
)
RECIPE = (
    "For each chosen token, draw once more: below 0.8 -> [MASK]; otherwise half of the rest "
    "random, half kept"
)
ONE_RANDOM_TOKEN = (
    "every replaced token got the same random id: draw one per position, "
    "torch.randint(vocab_size, ids.shape, generator=generator)"
)
NOT_REPRODUCIBLE = (
    "draw every random number from the `generator` argument (torch.rand(..., "
    "generator=generator)), so that masking is reproducible"
)
SAME_CHOICE_FOR_ANY_SEED = (
    "choose positions at random, with the `generator` argument, not by a fixed rule or a seed of "
    "your own"
)
IDS_CHANGED = "changed `ids` in place: build new tensors (torch.where, or ids.clone())"


def _masking_with(**knobs):
    """mask_tokens as a learner might write it, with one knob turned: the catalogue below."""

    def wrong(ids, special, mask_id, vocab_size, generator):
        if knobs.get("own_seed"):
            generator = torch.Generator().manual_seed(0)
        if knobs.get("global_random"):
            generator = None

        def draw():
            return torch.rand(ids.shape, generator=generator)

        chosen = draw() >= 0.15 if knobs.get("reversed") else draw() < 0.15
        if not knobs.get("specials"):
            chosen &= ~special
        labels = torch.where(chosen, ids, torch.full_like(ids, IGNORE_INDEX))
        if knobs.get("labels") == "everywhere":
            labels = ids.clone()
        elif knobs.get("labels") == "ordinary":
            labels = torch.where(special, torch.full_like(ids, IGNORE_INDEX), ids)
        if knobs.get("second_choice"):  # inputs chosen by a draw of their own
            chosen = (draw() < 0.15) & ~special
        to_mask = chosen & (draw() < knobs.get("mask_share", 0.8))
        to_random = chosen & ~to_mask & (draw() < knobs.get("random_share_of_rest", 0.5))
        shape = (1,) if knobs.get("one_random_token") else ids.shape
        random_tokens = torch.randint(vocab_size, shape, generator=generator).expand(ids.shape)
        inputs = ids if knobs.get("in_place") else ids.clone()
        inputs[to_mask] = knobs.get("fixed_mask_id", mask_id)
        inputs[to_random] = random_tokens[to_random]
        if knobs.get("labels") == "inputs":
            labels = torch.where(chosen, inputs, labels)
        return inputs, labels

    return wrong


MASKING_MISTAKES = [
    Mistake(SPECIALS_CHOSEN, _masking_with(specials=True)),
    Mistake(LABELS_EVERYWHERE, _masking_with(labels="everywhere")),
    Mistake(LABELS_NOT_ORIGINAL, _masking_with(labels="inputs")),
    Mistake(LABELS_ALL_ORDINARY, _masking_with(labels="ordinary")),
    Mistake(CHOICE_NOT_SHARED, _masking_with(second_choice=True)),
    Mistake(RATE_REVERSED, _masking_with(reversed=True)),
    Mistake(FIXED_MASK_ID, _masking_with(fixed_mask_id=103)),  # bert-base's [MASK]
    Mistake(ALL_MASKED, _masking_with(mask_share=1.0)),
    Mistake(NONE_RANDOM, _masking_with(random_share_of_rest=0.0)),
    Mistake(NONE_UNCHANGED, _masking_with(random_share_of_rest=1.0)),
    Mistake(TOO_FEW_RANDOM, _masking_with(random_share_of_rest=0.1)),
    Mistake(ONE_RANDOM_TOKEN, _masking_with(one_random_token=True)),
    Mistake(NOT_REPRODUCIBLE, _masking_with(global_random=True)),
    Mistake(SAME_CHOICE_FOR_ANY_SEED, _masking_with(own_seed=True)),
    Mistake(IDS_CHANGED, _masking_with(in_place=True)),
]


@recognises(MASKING_MISTAKES)
def mask_tokens(learner_fn) -> None:
    """Check BERT's MLM masking: 15% of the ordinary tokens chosen; of those 80% [MASK], 10% a
    random token, 10% unchanged; special tokens never chosen; labels = the original token at
    chosen positions and -100 elsewhere; all randomness from `generator`."""
    fn = require_function(learner_fn, "mask_tokens")
    checked = 0
    for mask_id, vocab_size, seed in ((4, 1000, 0), (999, 1000, 1)):
        ids, special = _mlm_batch(mask_id, vocab_size, seed)
        original = ids.clone()
        result = _mask(fn, ids, special, mask_id, vocab_size, seed)
        where = f"mask_tokens(128 × 128 tokens, mask_id={mask_id}, vocab_size={vocab_size})"
        if not (isinstance(result, (tuple, list)) and len(result) == 2):
            raise CheckFailed(f"{where} should return a pair (inputs, labels), got {result!r:.80}")
        inputs, labels = result
        for name, value in (("inputs", inputs), ("labels", labels)):
            if not isinstance(value, torch.Tensor) or value.shape != ids.shape:
                shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value)
                raise CheckFailed(
                    f"{where}: {name} should be a tensor of shape (128, 128), got {shape}"
                )
            if value.dtype != torch.long:
                raise CheckFailed(
                    f"{where}: {name} should hold integer ids (torch.long), got {value.dtype}"
                )
        if not torch.equal(ids, original):
            raise CheckFailed(f"{where} {IDS_CHANGED}")
        _check_masking(where, ids, special, inputs, labels, mask_id, vocab_size)
        again = _mask(fn, ids, special, mask_id, vocab_size, seed)
        if not (torch.equal(again[0], inputs) and torch.equal(again[1], labels)):
            raise CheckFailed(
                f"{where} gave different results for the same seed: {NOT_REPRODUCIBLE}"
            )
        _require_fresh_draws(fn, where, ids, special, mask_id, vocab_size, seed, inputs, labels)
        checked += (~special).sum().item()
    passed(
        "mask_tokens",
        f"15% chosen, 80/10/10 split and labels right on {checked:,} ordinary tokens "
        "(tolerances of 4 to 6 standard deviations)",
    )


def _require_fresh_draws(
    fn, where, ids, special, mask_id, vocab_size, seed, inputs, labels
) -> None:
    """Another seed must choose other positions (about 15% of 15% in common, not the same ones),
    and random replacements must not be a function of the original tokens."""
    other_inputs, other_labels = _mask(fn, ids, special, mask_id, vocab_size, 12345)
    chosen, other = labels != IGNORE_INDEX, other_labels != IGNORE_INDEX
    both = _share(chosen & other, ~special)
    if both > 0.05:  # independent draws give 0.15 * 0.15 = 2.25%
        raise CheckFailed(
            f"{where}: two different generator seeds chose {both:.0%} of the ordinary tokens in "
            f"common (independent draws share about 2%): {SAME_CHOICE_FOR_ANY_SEED}"
        )
    # the same seed on other tokens (same special positions): a random replacement comes from
    # the generator, so it must not change with the tokens it replaces
    shifted = torch.where(special, ids, (ids - 10 + 37) % (vocab_size - 10) + 10)
    shifted = torch.where(shifted == mask_id, torch.full_like(ids, 10), shifted)
    shifted_inputs, _ = _mask(fn, shifted, special, mask_id, vocab_size, seed)
    replaced = chosen & (inputs != mask_id) & (inputs != ids) & (shifted_inputs != shifted)
    same = (inputs[replaced] == shifted_inputs[replaced]).float().mean().item()
    if replaced.sum() >= 20 and same < 0.5:
        raise CheckFailed(
            f"{where}: the 'random' replacement of a token is the same whatever the seed: draw "
            "it with torch.randint(vocab_size, ..., generator=generator), not from the token"
        )


def _check_masking(where, ids, special, inputs, labels, mask_id, vocab_size) -> None:
    chosen = labels != IGNORE_INDEX  # every label that is not -100 marks a chosen token
    if chosen.float().mean() > 0.9:
        raise CheckFailed(f"{where}: {LABELS_EVERYWHERE}")
    if (chosen & special).any():
        raise CheckFailed(f"{where}: {SPECIALS_CHOSEN}")
    if not torch.equal(labels[chosen], ids[chosen]):
        raise CheckFailed(f"{where}: {LABELS_NOT_ORIGINAL}")
    if not torch.equal(inputs[~chosen], ids[~chosen]):
        raise CheckFailed(f"{where}: {CHOICE_NOT_SHARED}")
    ordinary = ~special
    rate = _share(chosen, ordinary)
    if abs(rate - 0.15) > 0.015:
        extra = ""
        if abs(rate - 0.12) < 0.01:
            extra = " (12% is 80% of 15%: only the [MASK]ed tokens got labels?)"
        elif abs(rate - 0.85) < 0.02:
            extra = f" ({RATE_REVERSED})"
        elif rate > 0.9 and _share(chosen & (inputs == ids), chosen) > 0.5:
            extra = f": {LABELS_ALL_ORDINARY}"
        elif rate > 0.9:
            extra = " (every token?)"
        raise CheckFailed(
            f"{where}: {rate:.1%} of the ordinary tokens were chosen (they have a label); BERT "
            f"chooses 15% (tolerance ±1.5 points){extra}"
        )
    masked = chosen & (inputs == mask_id)
    unchanged = chosen & (inputs == ids)
    replaced = chosen & ~masked & ~unchanged
    if replaced.any():
        common = inputs[replaced].mode().values.item()
        count = (inputs[replaced] == common).sum().item()
        if count > 0.5 * chosen.sum().item():
            raise CheckFailed(
                f"{where}: most chosen tokens became id {common}, but [MASK] is mask_id="
                f"{mask_id} here: {FIXED_MASK_ID}"
            )
    shares = {
        name: _share(part, chosen)
        for name, part in (("[MASK]", masked), ("random", replaced), ("unchanged", unchanged))
    }
    expected = {"[MASK]": 0.8, "random": 0.1, "unchanged": 0.1}
    if any(abs(share - expected[name]) > 0.045 for name, share in shares.items()):
        described = ", ".join(f"{name} {share:.0%}" for name, share in shares.items())
        raise CheckFailed(
            f"{where}: of the chosen tokens, {described}; BERT's recipe is [MASK] 80%, random "
            f"10%, unchanged 10% (tolerance ±4.5 points): {_split_hint(shares)}"
        )
    random_tokens = inputs[replaced]
    if random_tokens.unique().numel() == 1 and random_tokens.numel() > 20:
        raise CheckFailed(f"{where}: {ONE_RANDOM_TOKEN}")
    if random_tokens.numel() and (
        random_tokens.min() < 0
        or random_tokens.max() >= vocab_size
        or random_tokens.unique().numel() < min(50, random_tokens.numel() // 2)
    ):
        raise CheckFailed(
            f"{where}: the random replacements should be spread over the whole vocabulary "
            f"(torch.randint(vocab_size, ...)); got {random_tokens.unique().numel()} distinct ids "
            f"between {random_tokens.min().item()} and {random_tokens.max().item()}"
        )


def _split_hint(shares: dict[str, float]) -> str:
    """The likely mistake behind a wrong [MASK] / random / unchanged split of the chosen tokens."""
    if shares["[MASK]"] > 0.97:
        return ALL_MASKED
    if abs(shares["[MASK]"] - 0.8) <= 0.045:
        if shares["random"] < 0.005:
            return NONE_RANDOM
        if shares["unchanged"] < 0.005:
            return NONE_UNCHANGED
        if abs(shares["random"] - 0.02) < 0.01:
            return TOO_FEW_RANDOM
    return RECIPE


def _documents() -> list[list[str]]:
    rng = random.Random(7)
    return [[f"doc{d} sentence{s}" for s in range(rng.randint(2, 9))] for d in range(8)]


# What the check says about each mistake it recognises (the catalogue below plants them).
LABELS_SWAPPED = (
    "the labels are the wrong way round: 0 means B is the next sentence, 1 that B is a random one"
)
SAME_DOCUMENT = (
    "a random B must come from ANOTHER document: choose among the other documents' indices "
    "(every index but `document`)"
)
B_NOT_A_SENTENCE = (
    "sentence B should be one sentence, a str: a random B is one sentence of the other "
    "document, rng.choice(documents[other])"
)
LABEL_NOT_INT = "the label should be the integer 0 (B is next) or 1 (B is random)"
RANDINT_INCLUSIVE = (
    "rng.randint(a, b) includes b, so rng.randint(0, 2) has three outcomes: decide with "
    "rng.random() < 0.5"
)
DOCUMENT_BY_RULE = (
    "pick the other document at random (rng.choice among the other documents' indices), not by "
    "a rule"
)
SENTENCE_BY_RULE = (
    "pick the document AND the sentence at random: a random sentence of the other document, "
    "rng.choice(documents[other])"
)
GLOBAL_RANDOM = (
    "draw every random choice from the `rng` argument (rng.random(), rng.choice(...)), not the "
    "random module"
)


def _pairing_with(**knobs):
    """nsp_pair as a learner might write it, with one knob turned: the catalogue below."""

    def wrong(documents, document, sentence, rng):
        if knobs.get("global_random"):
            rng = random  # the module has the same methods as a random.Random
        first = documents[document][sentence]
        is_next = rng.randint(0, 2) == 0 if knobs.get("randint") else rng.random() < 0.5
        if is_next:
            b, label = documents[document][sentence + 1], 0
        else:
            others = [i for i in range(len(documents)) if i != document or knobs.get("any")]
            other = (document + 1) % len(documents) if knobs.get("next_document") else None
            b = documents[rng.choice(others) if other is None else other]
            if knobs.get("b") == "first sentence":
                b = b[0]
            elif knobs.get("b") != "whole document":
                b = rng.choice(b)
            label = 1
        if knobs.get("swapped"):
            label = 1 - label
        return first, b, bool(label) if knobs.get("bool_label") else label

    return wrong


NSP_MISTAKES = [
    Mistake(LABELS_SWAPPED, _pairing_with(swapped=True)),
    Mistake(SAME_DOCUMENT, _pairing_with(any=True)),
    Mistake(B_NOT_A_SENTENCE, _pairing_with(b="whole document")),
    Mistake(LABEL_NOT_INT, _pairing_with(bool_label=True)),
    Mistake(RANDINT_INCLUSIVE, _pairing_with(randint=True)),
    Mistake(DOCUMENT_BY_RULE, _pairing_with(next_document=True)),
    Mistake(SENTENCE_BY_RULE, _pairing_with(b="first sentence")),
    Mistake(GLOBAL_RANDOM, _pairing_with(global_random=True)),
]


@recognises(NSP_MISTAKES)
def nsp_pair(learner_fn) -> None:
    """Check an NSP pair builder: A = documents[document][sentence]; label 0 with B the next
    sentence half of the time; label 1 with B a random sentence of another document otherwise;
    randomness from `rng`."""
    fn = require_function(learner_fn, "nsp_pair")
    documents = _documents()
    where_of = {s: (d, i) for d, doc in enumerate(documents) for i, s in enumerate(doc)}
    positions = [(d, s) for d, doc in enumerate(documents) for s in range(len(doc) - 1)]
    rng = random.Random(11)
    results = []
    picker = random.Random(3)
    for _ in range(2000):
        d, s = picker.choice(positions)
        result = _pair(fn, documents, d, s, rng)
        where = f"nsp_pair(documents, document={d}, sentence={s}, rng)"
        if not (isinstance(result, (tuple, list)) and len(result) == 3):
            raise CheckFailed(
                f"{where} should return (sentence_a, sentence_b, label), got {result!r:.80}"
            )
        a, b, label = result
        if a != documents[d][s]:
            raise CheckFailed(
                f"{where}: sentence A should be documents[{d}][{s}] ({documents[d][s]!r}), "
                f"got {a!r}"
            )
        if not isinstance(b, str):
            raise CheckFailed(f"{where}: {B_NOT_A_SENTENCE}; got a {type(b).__name__}")
        if b not in where_of:
            raise CheckFailed(f"{where}: sentence B {b!r:.60} is not a sentence of the documents")
        if type(label) is not int or label not in (0, 1):
            raise CheckFailed(f"{where}: {LABEL_NOT_INT}, got {label!r}")
        b_document, b_index = where_of[b]
        results.append(_Pair(where, d, b, b_document, (b_document, b_index) == (d, s + 1), label))
    _require_right_labels(results)
    share_next = sum(pair.label == 0 for pair in results) / len(results)
    if abs(share_next - 0.5) > 0.06:
        hint = "one rng.random() < 0.5 decides"
        if min(abs(share_next - 1 / 3), abs(share_next - 2 / 3)) < 0.04:
            hint = RANDINT_INCLUSIVE
        raise CheckFailed(
            f"nsp_pair: B was the next sentence in {share_next:.0%} of 2,000 pairs; it should be "
            f"half of them (tolerance ±6 points): {hint}"
        )
    _require_random_at_one_position(fn, documents, where_of)
    randoms = [where_of[pair.b] for pair in results if pair.label == 1]
    if len({doc for doc, _ in randoms}) < len(documents) - 1 or len(set(randoms)) < 20:
        raise CheckFailed(
            "nsp_pair: the random sentences B should come from any other document and any "
            f"position; 2,000 pairs used only {len(set(randoms))} different sentences from "
            f"{len({doc for doc, _ in randoms})} documents"
        )
    first = [_pair(fn, documents, 0, 0, random.Random(5)) for _ in range(3)]
    if any(tuple(pair) != tuple(first[0]) for pair in first) or _differs_only_by_global(
        fn, documents
    ):
        raise CheckFailed(f"nsp_pair gave different results for the same rng seed: {GLOBAL_RANDOM}")
    passed("nsp_pair", "A, B and labels right, about half next, on 2,000 pairs")


class _Pair(NamedTuple):
    """One pair the learner's nsp_pair returned, and where sentence B comes from."""

    where: str  # the call, for messages
    document: int  # A's document
    b: str
    b_document: int
    is_next: bool  # B is the sentence after A
    label: int


def _require_right_labels(pairs: list[_Pair]) -> None:
    """Label 0 exactly when B is the next sentence, and a random B from another document: judged
    on all the pairs at once, so that labels the wrong way round are told from a random B that
    happens to be the next sentence."""
    next_labels = [pair.label for pair in pairs if pair.is_next]
    swapped = sum(next_labels) > len(next_labels) / 2  # the next sentences mostly labelled 1
    for pair in pairs:
        if pair.label == 0 and not pair.is_next:
            hint = LABELS_SWAPPED if swapped else "label 0 is for the sentence after A only"
            raise CheckFailed(
                f'{pair.where} returned label 0 ("is next") but B is {pair.b!r}, not the sentence '
                f"after A: {hint}"
            )
        if pair.label == 1 and pair.b_document == pair.document:
            hint = LABELS_SWAPPED if swapped else SAME_DOCUMENT
            raise CheckFailed(
                f'{pair.where} returned label 1 ("random") but B is {pair.b!r}: {hint}'
            )


def _require_random_at_one_position(fn, documents, where_of) -> None:
    """At one fixed (document, sentence), with one rng: both labels about half the time, random
    sentences from every other document and from various positions."""
    rng = random.Random(21)
    pairs = [_pair(fn, documents, 2, 0, rng) for _ in range(400)]
    share_next = sum(label == 0 for _, _, label in pairs) / len(pairs)
    where = "nsp_pair(documents, document=2, sentence=0, rng), called 400 times with one rng,"
    if abs(share_next - 0.5) > 0.12:  # 5 standard deviations
        raise CheckFailed(
            f"{where} gave B = the next sentence {share_next:.0%} of the time; it should be about "
            "half: decide with rng.random() < 0.5, not by a rule on the positions"
        )
    randoms = [where_of[b] for _, b, label in pairs if label == 1]
    chosen_documents, chosen_positions = {d for d, _ in randoms}, {i for _, i in randoms}
    if len(chosen_documents) < len(documents) - 1 or len(chosen_positions) < 3:
        hint = DOCUMENT_BY_RULE if len(chosen_documents) < len(documents) - 1 else SENTENCE_BY_RULE
        raise CheckFailed(
            f"{where} took the random B from {len(chosen_documents)} of the "
            f"{len(documents) - 1} other documents and {len(chosen_positions)} positions: {hint}"
        )


def _differs_only_by_global(fn, documents) -> bool:
    """True when the output depends on Python's global random state rather than on `rng`."""
    saved = random.getstate()
    outputs = []
    try:
        for global_seed in (1, 2, 3, 4):
            random.seed(global_seed)
            pair = _pair(fn, documents, 1, 0, random.Random(9))
            outputs.append(tuple(pair))
    finally:
        random.setstate(saved)  # the learner's own random state is left as it was
    return len(set(outputs)) > 1


def _real(padding, states):
    return padding[..., None].to(states.dtype)


POOL_MISTAKES = [
    Mistake(
        "the padding is averaged in too: weight each position by the padding mask and divide by "
        "the number of real tokens",
        lambda states, padding: states.mean(dim=1),
    ),
    Mistake(
        "that is the sum of the real tokens' vectors: divide by how many there are",
        lambda states, padding: (states * _real(padding, states)).sum(dim=1),
    ),
    Mistake(
        "the sum is divided by the padded length; divide by each row's number of real tokens "
        "(padding.sum(dim=1))",
        lambda states, padding: (states * _real(padding, states)).sum(dim=1) / states.shape[1],
    ),
    Mistake(
        "that is the [CLS] vector (position 0); mean pooling averages all real tokens",
        lambda states, padding: states[:, 0],
    ),
    Mistake(
        "padding.sum(dim=1) is (batch,): divide by padding.sum(dim=1, keepdim=True), (batch, 1), "
        "so that each row is divided by its own number of real tokens",
        lambda states, padding: (states * _real(padding, states)).sum(dim=1) / padding.sum(dim=1),
    ),
    Mistake(
        "padding (batch, seq) cannot weight states (batch, seq, hidden) as it is: add an axis, "
        "padding[..., None] (batch, seq, 1)",
        lambda states, padding: (states * padding).sum(dim=1) / padding.sum(dim=1, keepdim=True),
    ),
    Mistake(
        "that is the mean of the padding positions: padding is True at the real tokens, so "
        "weight by padding, not ~padding",
        lambda states, padding: reference.mean_pool(states, ~padding),
    ),
    Mistake(
        "the mean is normalised to length 1: mean pooling returns the plain average (normalising, "
        "where wanted, is a separate step)",
        lambda states, padding: F.normalize(reference.mean_pool(states, padding), dim=-1),
    ),
]


def _pool_cases() -> list[Case]:
    generator = torch.Generator().manual_seed(2)
    cases = []
    for lengths, hidden in [([3, 5, 1], 4), ([2, 2], 3), ([6], 5), ([4, 1, 6, 2], 8)]:
        seq = max(lengths) + 1  # at least one padding column
        states = torch.randn(len(lengths), seq, hidden, generator=generator)
        padding = torch.arange(seq)[None, :] < torch.tensor(lengths)[:, None]
        cases.append(Case((states, padding)))
    return cases


@recognises(POOL_MISTAKES)
def mean_pool(learner_fn) -> None:
    """Check `mean_pool(states, padding) -> (batch, hidden)`."""
    fn = require_function(learner_fn, "mean_pool")
    cases = _pool_cases()
    run_cases(
        "mean_pool",
        fn,
        reference.mean_pool,
        cases,
        signature="mean_pool(states, padding)",
        mistakes=POOL_MISTAKES,
        atol=1e-6,
        rtol=1e-5,
    )
    passed("mean_pool", f"correct on {len(cases)} padded batches (atol=1e-06)")


# --- the sentence-pair input ---------------------------------------------------------------------

PAIR_SIGNATURE = "encode_pair(tokenizer, first, second)"
PAIRS = [
    ("The war lasted ten years.", "Troy fell at last."),
    ("Achilles was invulnerable except for his heel.", "Paris knew."),
    ("A gripping, beautifully shot film.", "Dull."),
    ("Short.", "A much longer second sentence, with a comma and unusual words like Myrmidons."),
]


TOKEN_STRINGS = (
    "return the tokens' ids (encoding.ids, tokenizer.token_to_id(...)), not the tokens "
    "themselves (encoding.tokens)"
)


def _pair_mistake(kind):
    def wrong(tokenizer, first, second):
        ids, segments = reference_data.encode_pair(tokenizer, first, second)
        a_length = len(tokenizer.encode(first, add_special_tokens=False).ids)
        if kind == "first sep in B":
            segments = [0] * (a_length + 1) + [1] * (len(ids) - a_length - 1)
        elif kind == "one segment":
            segments = [0] * len(ids)
        elif kind == "no final sep":
            ids, segments = ids[:-1], segments[:-1]
        elif kind == "no cls":
            ids, segments = ids[1:], segments[1:]
        elif kind == "cls in B":
            segments = [1] + segments[1:]
        elif kind == "final sep in A":
            segments = segments[:-1] + [0]
        elif kind == "specials twice":  # encode() adds [CLS] ... [SEP] to each sentence itself
            a, b = tokenizer.encode(first).ids, tokenizer.encode(second).ids
            ids = [ids[0], *a, ids[-1], *b, ids[-1]]
            segments = [0] * (len(a) + 2) + [1] * (len(b) + 1)
        elif kind == "tokens":
            ids = [tokenizer.id_to_token(i) for i in ids]
        return ids, segments

    return wrong


PAIR_MISTAKES = [
    Mistake(
        "the [SEP] that ends sentence A belongs to segment 0: segments are 0 up to and including "
        "the first [SEP], 1 for sentence B and its [SEP]",
        _pair_mistake("first sep in B"),
    ),
    Mistake(
        "every segment id is 0: sentence B and its [SEP] get segment 1",
        _pair_mistake("one segment"),
    ),
    Mistake("the input ends with a [SEP] after sentence B too", _pair_mistake("no final sep")),
    Mistake("the input starts with [CLS]", _pair_mistake("no cls")),
    Mistake("[CLS] belongs to segment 0, with sentence A", _pair_mistake("cls in B")),
    Mistake(
        "the [SEP] that ends sentence B belongs to segment 1, with sentence B",
        _pair_mistake("final sep in A"),
    ),
    Mistake(
        "tokenizer.encode(text) adds [CLS] and [SEP] itself, so they appear twice: encode each "
        "sentence with add_special_tokens=False",
        _pair_mistake("specials twice"),
    ),
    Mistake(TOKEN_STRINGS, _pair_mistake("tokens")),
    *swapped_arguments(reference_data.encode_pair, ("first", "second")),
]


def _as_tensors(fn):
    """The learner's (ids, segments), lists or tensors, as two long tensors."""

    def call(*args):
        result = fn(*args)
        if not (isinstance(result, (tuple, list)) and len(result) == 2):
            return result  # run_cases explains what a pair of outputs should be
        if any(isinstance(part, list) and any(isinstance(t, str) for t in part) for part in result):
            raise CheckFailed(f"encode_pair returned strings: {TOKEN_STRINGS}")
        return tuple(torch.as_tensor(part, dtype=torch.long) for part in result)

    return call


def _pair_tokenizers():
    minilm = tokenizers.Tokenizer.from_file(str(packages.minilm_folder() / "tokenizer.json"))
    minilm.no_padding()
    minilm.no_truncation()
    return {"MiniLM's tokenizer": minilm}


@recognises(PAIR_MISTAKES)
def encode_pair(learner_fn) -> None:
    """Check `encode_pair(tokenizer, first, second) -> (ids, segment ids)` against the MiniLM
    tokenizer's own pair encoding."""
    fn = require_function(learner_fn, "encode_pair")
    cases = []
    for name, tokenizer in _pair_tokenizers().items():
        for first, second in PAIRS:
            label = f"{name}, {first!r}, {second!r}"
            cases.append(Case((tokenizer, first, second), label=label))
    run_cases(
        "encode_pair",
        _as_tensors(fn),
        lambda tokenizer, first, second: tuple(
            torch.tensor(part) for part in _their_pair(tokenizer, first, second)
        ),
        cases,
        signature=PAIR_SIGNATURE,
        mistakes=[Mistake(m.hint, _as_tensors(m.wrong_implementation)) for m in PAIR_MISTAKES],
        atol=0,
        rtol=0,
        differentiable=False,
        output_names=("ids", "segments"),
        dtype_advice="return integer ids",
    )
    passed("encode_pair", f"the same ids and segments as MiniLM's tokenizer on {len(cases)} pairs")


def _their_pair(tokenizer, first, second):
    encoding = tokenizer.encode(first, second)
    return encoding.ids, encoding.type_ids


# --- BERT's input embeddings ---------------------------------------------------------------------


class _EmbeddingsWith(reference.BertEmbeddings):
    """The course's embeddings written out, with one knob turned."""

    knobs: dict = {}

    def forward(self, ids, segments):
        knobs, seq = self.knobs, ids.shape[1]
        x = self.tokens(ids)
        if knobs.get("scaled"):
            x = x * math.sqrt(x.shape[-1])
        if knobs.get("segments") == "zeros":
            segments = torch.zeros_like(segments)
        if knobs.get("segments") != "missing":
            x = x + self.segments(segments)
        if knobs.get("positions") == "sinusoidal":
            x = x + positional_encoding(seq, x.shape[-1])
        elif knobs.get("positions") != "missing":
            x = x + self.positions(torch.arange(seq) + (knobs.get("positions") == "from 1"))
        if knobs.get("dropout") == "before norm":
            x = self.dropout(x)
        if knobs.get("norm", True):
            x = self.norm(x)
        return self.dropout(x) if knobs.get("dropout", "last") == "last" else x


EMBEDDING_MISTAKES = [
    Mistake(
        "the segment embeddings are missing: add self.segments(segments), which tells sentence "
        "A's tokens from sentence B's",
        with_knobs(_EmbeddingsWith, segments="missing"),
    ),
    Mistake(
        "the position embeddings are missing: add self.positions(torch.arange(seq_len)), or the "
        "model cannot tell word order",
        with_knobs(_EmbeddingsWith, positions="missing"),
    ),
    Mistake(
        "the LayerNorm after the sum is missing: norm(tokens + segments + positions)",
        with_knobs(_EmbeddingsWith, norm=False),
    ),
    Mistake(
        "positions start at 0: torch.arange(seq_len), not 1 .. seq_len",
        with_knobs(_EmbeddingsWith, positions="from 1"),
    ),
    Mistake(
        "dropout comes last, after the LayerNorm: dropout(norm(sum))",
        with_knobs(_EmbeddingsWith, dropout="before norm"),
    ),
    Mistake(
        "the dropout is missing: dropout(norm(sum)) (the check compares in training mode too, "
        "with the same random draws)",
        with_knobs(_EmbeddingsWith, dropout="missing"),
    ),
    Mistake(
        "every token gets segment 0's embedding: look up the segments argument, "
        "self.segments(segments)",
        with_knobs(_EmbeddingsWith, segments="zeros"),
    ),
    Mistake(
        "the token embeddings are multiplied by sqrt(hidden): BERT adds them unscaled (the "
        "scaling is the original Transformer's)",
        with_knobs(_EmbeddingsWith, scaled=True),
    ),
    Mistake(
        "the positions are sinusoidal: BERT learns them, self.positions(torch.arange(seq_len))",
        with_knobs(_EmbeddingsWith, positions="sinusoidal"),
    ),
]


@recognises(EMBEDDING_MISTAKES)
def bert_embeddings(learner_class, *, seed: int = 0) -> None:
    """Check the learner's `BertEmbeddings(config)` against the course's (equal to
    `transformers`' BertEmbeddings with the same weights): tokens, segments, positions, norm,
    dropout."""
    generator = torch.Generator().manual_seed(seed)
    cases = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        config = reference.BertConfig(vocab_size=30, hidden=16, max_len=12, dropout=0.3)
        for training in (False, True):
            module = reference.BertEmbeddings(config)
            for embedding in (module.segments, module.positions):
                torch.nn.init.normal_(embedding.weight)  # large enough that missing ones show
            ids = torch.randint(5, 30, (3, 9), generator=generator)
            segments = (torch.arange(9) >= torch.tensor([[4], [6], [2]])).long()
            built = Built(module, (config,), training=training, seed=seed)
            cases.append(Case((built, ids, segments)))
    run_module_cases(
        "BertEmbeddings",
        learner_class,
        cases,
        signature="BertEmbeddings(config), forward(ids, segments)",
        mistakes=EMBEDDING_MISTAKES,
        atol=1e-5,
        rtol=1e-5,
    )
    passed("BertEmbeddings", f"matches the course's with its weights on {len(cases)} cases")


# --- the masked-LM loss --------------------------------------------------------------------------


def _all_positions(scores, labels):
    masked = labels != IGNORE_INDEX
    losses = F.cross_entropy(scores[masked], labels[masked], reduction="sum")
    return losses / labels.numel()


def _summed(scores, labels):
    masked = labels != IGNORE_INDEX
    return F.cross_entropy(scores[masked], labels[masked], reduction="sum")


def _double_softmax(scores, labels):
    masked = labels != IGNORE_INDEX
    return F.cross_entropy(scores[masked].softmax(-1), labels[masked])


def _probabilities_as_loss(scores, labels):
    masked = labels != IGNORE_INDEX
    probabilities = scores[masked].softmax(-1)
    return -probabilities.gather(1, labels[masked][:, None]).mean()


def _nll_of_scores(scores, labels):
    masked = labels != IGNORE_INDEX
    return F.nll_loss(scores[masked], labels[masked])


def _mean_of_row_means(scores, labels):
    losses = F.cross_entropy(scores.transpose(1, 2), labels, reduction="none")  # 0 where ignored
    return (losses.sum(dim=1) / (labels != IGNORE_INDEX).sum(dim=1)).mean()


MLM_LOSS_MISTAKES = [
    Mistake(
        "the loss is averaged over every position: average over the masked positions only (the "
        "others have no label), e.g. F.cross_entropy(scores[masked], labels[masked])",
        _all_positions,
    ),
    Mistake("return the mean over the masked positions, not the sum", _summed),
    Mistake(
        "F.cross_entropy takes raw scores (logits) and applies the softmax itself: don't softmax "
        "before it",
        _double_softmax,
    ),
    Mistake(
        "the loss is the negative *log*-probability of the right token: F.cross_entropy, not "
        "minus the probability",
        _probabilities_as_loss,
    ),
    Mistake(
        "F.nll_loss expects log-probabilities: apply log_softmax first, or use F.cross_entropy, "
        "which takes the raw scores",
        _nll_of_scores,
    ),
    Mistake(
        "F.cross_entropy wants the vocabulary on axis 1: select the masked positions, "
        "scores[masked] (positions, vocab), or transpose the scores to (batch, vocab, seq)",
        lambda scores, labels: F.cross_entropy(scores, labels),
    ),
    Mistake(
        "the loss is one number, the mean over the masked positions: leave cross_entropy's "
        "reduction at its default ('mean')",
        lambda scores, labels: F.cross_entropy(
            scores[labels != IGNORE_INDEX], labels[labels != IGNORE_INDEX], reduction="none"
        ),
    ),
    Mistake(
        "the loss is averaged within each row, then over the rows: average over all the masked "
        "positions at once (a row with more masked tokens weighs more)",
        _mean_of_row_means,
    ),
]


@recognises(MLM_LOSS_MISTAKES)
def masked_lm_loss(learner_fn) -> None:
    """Check `masked_lm_loss(mlm_scores, labels)`: the mean cross-entropy over the positions whose
    label is not -100."""
    fn = require_function(learner_fn, "masked_lm_loss")
    generator = torch.Generator().manual_seed(0)
    cases = []
    for batch, seq, vocab, share in [(2, 6, 10, 0.3), (3, 8, 7, 0.5), (1, 5, 12, 0.2)]:
        scores = 2 * torch.randn(batch, seq, vocab, generator=generator)
        labels = torch.randint(vocab, (batch, seq), generator=generator)
        hidden = torch.rand(batch, seq, generator=generator) < share
        hidden[0, 1] = True  # at least one masked position
        labels[~hidden] = IGNORE_INDEX
        cases.append(Case((scores, labels)))
    run_cases(
        "masked_lm_loss",
        fn,
        reference.masked_lm_loss,
        cases,
        signature="masked_lm_loss(mlm_scores, labels)",
        mistakes=MLM_LOSS_MISTAKES,
        atol=1e-5,
        rtol=1e-5,
    )
    passed("masked_lm_loss", f"correct on {len(cases)} batches (atol=1e-05)")


# --- the pretraining heads -----------------------------------------------------------------------

HEADS_SIGNATURE = (
    "BertForPretraining(config), forward(ids, segments=None, padding=None) -> (MLM scores "
    "(batch, seq, vocab_size), NSP scores (batch, 2))"
)


class _HeadsWith(reference.BertForPretraining):
    """The course's heads written out, with one knob turned."""

    knobs: dict = {}

    def forward(self, ids, segments=None, padding=None, masked=None):
        knobs = self.knobs
        states, pooled = self.bert(ids, segments, padding)
        dense, _, norm = self.mlm_transform
        if knobs.get("transform", True):
            h = dense(states)
            if knobs.get("norm_first"):
                h = F.gelu(norm(h))
            else:
                h = F.relu(h) if knobs.get("relu") else F.gelu(h)
                h = norm(h) if knobs.get("norm", True) else h
        else:
            h = states
        weight = self.bert.embeddings.tokens.weight
        scores = h @ weight if knobs.get("untransposed") else h @ weight.T
        if knobs.get("bias", True):
            scores = scores + self.mlm_bias
        if knobs.get("softmax"):
            scores = scores.softmax(dim=-1)
        sentence = states[:, 0] if knobs.get("nsp") == "cls" else pooled
        return scores, self.nsp_head(sentence)


def _heads_with(**knobs) -> type:
    return with_knobs(_HeadsWith, **knobs)


HEADS_MISTAKES = [
    Mistake(
        "the MLM scores skip the transform: pass the states through mlm_transform (dense, GELU, "
        "LayerNorm) before scoring them against the token embeddings",
        _heads_with(transform=False),
    ),
    Mistake(
        "the transform uses ReLU: BERT's MLM transform is dense, then GELU, then LayerNorm "
        "(keep the nn.Sequential the exercise names)",
        _heads_with(relu=True),
    ),
    Mistake(
        "the transform normalises before the activation: the order is dense, GELU, LayerNorm",
        _heads_with(norm_first=True),
    ),
    Mistake(
        "the MLM scores lack their bias: add mlm_bias (vocab_size,), the one parameter the "
        "output layer does not share with the input embedding",
        _heads_with(bias=False),
    ),
    Mistake(
        "the NSP head reads the raw [CLS] state: it reads the pooled vector (tanh of the pooler "
        "on [CLS]), the second output of self.bert",
        _heads_with(nsp="cls"),
    ),
    Mistake(
        "the transform lacks its LayerNorm: dense, then GELU, then LayerNorm (the three layers "
        "of mlm_transform, in that order)",
        _heads_with(norm=False),
    ),
    Mistake(
        "the MLM scores are softmaxed: return the raw scores (logits); the loss applies the "
        "softmax itself",
        _heads_with(softmax=True),
    ),
    Mistake(
        "the token embedding is (vocab_size, hidden): score with its transpose, states @ "
        "weight.T (or F.linear(states, weight, mlm_bias))",
        _heads_with(untransposed=True),
    ),
    *ignored_inputs(reference.BertForPretraining, "segments"),
]


@recognises(HEADS_MISTAKES)
def bert_for_pretraining(learner_class, *, seed: int = 0) -> None:
    """Check the learner's `BertForPretraining(config)` (the MLM head with tied weights and the
    NSP head on top of the course's `Bert`) against the course's, equal to `transformers`'
    BertForPreTraining with the same weights."""
    generator = torch.Generator().manual_seed(seed)
    cases = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        config = reference.BertConfig(
            vocab_size=40, hidden=16, layers=2, heads=4, d_ff=32, max_len=12, dropout=0.0
        )
        for length in (7, 10):
            model = reference.BertForPretraining(config)
            with torch.no_grad():  # BERT initialises biases to zero: make a missing one visible
                model.mlm_bias.normal_()
            ids = torch.randint(5, 40, (3, length), generator=generator)
            segments = (torch.arange(length) >= torch.tensor([[3], [5], [2]])).long()
            cases.append(Case((Built(model, (config,), seed=seed), ids, segments)))
    _require_tied(require_class(learner_class, "BertForPretraining"), config)
    run_module_cases(
        "BertForPretraining",
        learner_class,
        cases,
        signature=HEADS_SIGNATURE,
        mistakes=HEADS_MISTAKES,
        atol=1e-5,
        rtol=1e-5,
        output_names=("MLM scores", "NSP scores"),
    )
    passed(
        "BertForPretraining",
        f"MLM and NSP scores match the course's with its weights on {len(cases)} cases; the "
        "MLM output layer is the token embedding",
    )


def _require_tied(learner_class, config) -> None:
    """The MLM scores must move with the token embedding (weight tying), checked by changing it.
    A class that cannot be built or run is left to `run_module_cases`, which explains the error."""
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model = learner_class(config).eval()
        unused = config.vocab_size // 2  # tokens from here on are not in the input
        ids = torch.randint(5, unused, (1, 5), generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            before = model(ids)[0][..., unused:]
            model.bert.embeddings.tokens.weight[unused:].mul_(2)  # moves only tied output scores
            after = model(ids)[0][..., unused:]
        tied = not torch.allclose(before, after)
    except Exception:  # noqa: BLE001 - reported, with advice, by the comparison that follows
        return
    if not tied:
        raise CheckFailed(
            "BertForPretraining's MLM scores do not use the token embedding: score the "
            "transformed states against self.bert.embeddings.tokens.weight (tied weights: the "
            "output layer is the input embedding, so both learn together)"
        )


# --- the fine-tuning classifier ------------------------------------------------------------------

CLASSIFIER_SIGNATURE = (
    "BertClassifier(bert, num_classes, dropout=0.1, pooling='cls'), forward(ids, segments=None, "
    "padding=None) -> scores (batch, num_classes)"
)


class _ClassifierWith(reference.BertClassifier):
    """The course's classifier written out, with one knob turned."""

    knobs: dict = {}

    def forward(self, ids, segments=None, padding=None):
        knobs = self.knobs
        padding = ids != self.bert.config.pad_id if padding is None else padding
        seen = torch.ones_like(padding) if knobs.get("attend_pads") else padding
        states, pooled = self.bert(ids, segments, seen)
        if knobs.get("dropout") == "states":
            states = self.dropout(states)
        if self.pooling == "mean" or knobs.get("always_mean"):
            if knobs.get("mean_over_pads"):
                pooled = states.mean(dim=1)
            else:
                pooled = reference.mean_pool(states, padding)
        elif knobs.get("raw_cls"):
            pooled = states[:, 0]
        if knobs.get("dropout", "pooled") == "pooled":
            pooled = self.dropout(pooled)
        scores = self.classifier(pooled)
        return self.dropout(scores) if knobs.get("dropout") == "scores" else scores


def _classifier_with(**knobs) -> type:
    return with_knobs(_ClassifierWith, **knobs)


CLASSIFIER_MISTAKES = [
    Mistake(
        "the mean includes the padding positions: average only the real tokens (mean_pool(states, "
        "padding)), or a short sentence's vector is diluted by its pads",
        _classifier_with(mean_over_pads=True),
    ),
    Mistake(
        "with pooling='cls' the classifier reads the raw [CLS] state: it reads the pooled vector "
        "(the pooler's tanh on [CLS]), the second output of self.bert",
        _classifier_with(raw_cls=True),
    ),
    Mistake(
        "the sentence vector is not dropped out: apply self.dropout before the classifier (the "
        "check compares in training mode too, with the same random draws)",
        _classifier_with(dropout=None),
    ),
    Mistake(
        "the encoder attends to the padding: pass padding (True = real token; by default ids != "
        "pad_id) to self.bert(ids, segments, padding)",
        _classifier_with(attend_pads=True),
    ),
    Mistake(
        "the pooling argument is ignored: pooling='cls' reads the pooled [CLS] vector, "
        "pooling='mean' the mean of the real tokens",
        _classifier_with(always_mean=True),
    ),
    Mistake(
        "dropout is applied to the token states: apply it to the pooled sentence vector, "
        "classifier(dropout(pooled))",
        _classifier_with(dropout="states"),
    ),
    Mistake(
        "dropout comes after the classifier: classifier(dropout(pooled)), not "
        "dropout(classifier(pooled))",
        _classifier_with(dropout="scores"),
    ),
    *ignored_inputs(reference.BertClassifier, "segments"),
    *without_parameters(reference.BertClassifier, "classifier.bias"),
]


@recognises(CLASSIFIER_MISTAKES)
def bert_classifier(learner_class, *, seed: int = 0) -> None:
    """Check the learner's `BertClassifier` (the course's `Bert`, a pooled sentence vector,
    dropout, a linear layer) against the course's with copied weights, both poolings, in
    evaluation and training mode."""
    cls = require_class(learner_class, "BertClassifier")
    generator = torch.Generator().manual_seed(seed)
    cases = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        config = reference.BertConfig(
            vocab_size=40, hidden=16, layers=2, heads=4, d_ff=32, max_len=12, dropout=0.2
        )
        for pooling, training in (("cls", False), ("mean", False), ("mean", True), ("cls", True)):
            model = reference.BertClassifier(reference.Bert(config), 3, 0.3, pooling)
            with torch.no_grad():  # BERT initialises biases to zero: make a missing one visible
                model.classifier.bias.normal_()
            ids = torch.randint(5, 40, (3, 8), generator=generator)
            ids[0, 5:], ids[2, 3:] = 0, 0  # padding at the end of two rows
            segments = (torch.arange(8) >= torch.tensor([[3], [4], [2]])).long()
            built = Built(model, (model.bert, 3, 0.3, pooling), training=training, seed=seed)
            cases.append(Case((built, ids, segments)))
    run_module_cases(
        "BertClassifier",
        cls,
        cases,
        signature=CLASSIFIER_SIGNATURE,
        mistakes=CLASSIFIER_MISTAKES,
        atol=1e-5,
        rtol=1e-5,
    )
    encoder = cases[0].args[0].reference.bert
    require_value_error(
        lambda: cls(encoder, 2, 0.1, "max"),
        "BertClassifier(bert, 2, 0.1, 'max')",
        "names the two poolings, 'cls' and 'mean'",
    )
    passed(
        "BertClassifier",
        f"class scores match the course's with its weights on {len(cases)} cases (both "
        "poolings, with and without dropout)",
    )
