"""Checks for notebooks 06 and 06b (BERT): masking tokens for masked-language modelling, building
a next-sentence-prediction pair, and mean pooling.

Both exercises are random by nature, so the checks are statistical: they run the learner's
function on many tokens (or pairs) and test the proportions against BERT's recipe with explicit
tolerances (several standard deviations wide), and they test the exact rules that must hold for
every single draw (special tokens never chosen, labels in the right places, ...).
"""

from __future__ import annotations

import random

import torch
import torch.nn.functional as F

from .. import bert as reference
from .. import packages
from .. import pretraining_data as reference_data
from ..data import IGNORE_INDEX
from .framework import (
    Built,
    Case,
    CheckFailed,
    Mistake,
    call_plainly,
    passed,
    recognises,
    require_class,
    require_function,
    require_value_error,
    run_cases,
    run_module_cases,
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


@recognises()
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
            raise CheckFailed(
                f"{where} changed `ids` in place: build new tensors (torch.where, or ids.clone())"
            )
        _check_masking(where, ids, special, inputs, labels, mask_id, vocab_size)
        again = _mask(fn, ids, special, mask_id, vocab_size, seed)
        if not (torch.equal(again[0], inputs) and torch.equal(again[1], labels)):
            raise CheckFailed(
                f"{where} gave different results for the same seed: draw every random number "
                "from the `generator` argument (torch.rand(..., generator=generator)), so that "
                "masking is reproducible"
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
            "common (independent draws share about 2%): choose positions at random, with the "
            "`generator` argument, not by a fixed rule or a seed of your own"
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
    chosen = labels != IGNORE_INDEX
    if chosen.float().mean() > 0.9:
        raise CheckFailed(
            f"{where}: labels hold a token at almost every position: only the chosen ones get "
            "their original token, and -100 everywhere else (the loss ignores -100)"
        )
    if (chosen & special).any():
        raise CheckFailed(
            f"{where}: special tokens ([CLS], [SEP], [PAD]) were chosen for masking; they never "
            "are: leave out the positions where `special` is True"
        )
    if not torch.equal(labels[~chosen], torch.full_like(labels[~chosen], IGNORE_INDEX)) or not (
        torch.equal(labels[chosen], ids[chosen])
    ):
        if (labels == ids).all() or torch.equal(labels[~special], ids[~special]):
            hint = "labels hold the original token at every position: only the chosen ones"
        else:
            hint = "labels must hold the ORIGINAL token at chosen positions (not [MASK])"
        raise CheckFailed(f"{where}: {hint}, and -100 everywhere else (the loss ignores -100)")
    if not torch.equal(inputs[~chosen], ids[~chosen]):
        raise CheckFailed(
            f"{where}: tokens that were not chosen must stay as they are in `inputs` (only chosen "
            "tokens are replaced); is your choice of positions the same for inputs and labels?"
        )
    ordinary = ~special
    rate = _share(chosen, ordinary)
    if abs(rate - 0.15) > 0.015:
        extra = ""
        if abs(rate - 0.12) < 0.01:
            extra = " (12% is 80% of 15%: only the [MASK]ed tokens got labels?)"
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
                f"{mask_id} here: use the mask_id argument rather than a fixed number"
            )
    shares = {
        name: _share(part, chosen)
        for name, part in (("[MASK]", masked), ("random", replaced), ("unchanged", unchanged))
    }
    described = ", ".join(f"{name} {share:.0%}" for name, share in shares.items())
    if shares["[MASK]"] > 0.97:
        raise CheckFailed(
            f"{where}: every chosen token became [MASK] ({described}); BERT keeps 10% unchanged "
            "and replaces 10% with a random token, so the model can't rely on seeing [MASK]"
        )
    expected = {"[MASK]": 0.8, "random": 0.1, "unchanged": 0.1}
    for name, share in shares.items():
        if abs(share - expected[name]) > 0.045:
            raise CheckFailed(
                f"{where}: of the chosen tokens, {described}; BERT's recipe is [MASK] 80%, "
                "random 10%, unchanged 10% (tolerance ±4.5 points). For each chosen token, draw "
                "once more: below 0.8 -> [MASK]; otherwise half of the rest random, half kept"
            )
    random_tokens = inputs[replaced]
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


def _documents() -> list[list[str]]:
    rng = random.Random(7)
    return [[f"doc{d} sentence{s}" for s in range(rng.randint(2, 9))] for d in range(8)]


@recognises()
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
        if b not in where_of:
            raise CheckFailed(f"{where}: sentence B {b!r:.60} is not a sentence of the documents")
        if type(label) is not int or label not in (0, 1):
            raise CheckFailed(
                f"{where}: the label should be the integer 0 (B is next) or 1 (B is random), "
                f"got {label!r}"
            )
        b_document, b_index = where_of[b]
        is_next = (b_document, b_index) == (d, s + 1)
        if label == 0 and not is_next:
            raise CheckFailed(
                f'{where} returned label 0 ("is next") but B is {b!r}, not the sentence after A '
                f"(documents[{d}][{s + 1}]); are the labels the wrong way round?"
            )
        if label == 1 and b_document == d:
            hint = (
                "is the next sentence: the labels are the wrong way round (0 = next, 1 = random)"
                if is_next
                else "comes from the same document: take it from ANOTHER document"
            )
            raise CheckFailed(f'{where} returned label 1 ("random") but B {hint}')
        results.append((label, b_document, b_index))
    share_next = sum(label == 0 for label, _, _ in results) / len(results)
    if abs(share_next - 0.5) > 0.06:
        raise CheckFailed(
            f"nsp_pair: B was the next sentence in {share_next:.0%} of 2,000 pairs; it should be "
            "half of them (tolerance ±6 points): one rng.random() < 0.5 decides"
        )
    _require_random_at_one_position(fn, documents, where_of)
    randoms = [(doc, index) for label, doc, index in results if label == 1]
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
        raise CheckFailed(
            "nsp_pair gave different results for the same rng seed: draw every random choice "
            "from the `rng` argument (rng.random(), rng.choice(...)), not the random module"
        )
    passed("nsp_pair", "A, B and labels right, about half next, on 2,000 pairs")


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
    if len({d for d, _ in randoms}) < len(documents) - 1 or len({i for _, i in randoms}) < 3:
        raise CheckFailed(
            f"{where} took the random B from {len({d for d, _ in randoms})} of the "
            f"{len(documents) - 1} other documents and {len({i for _, i in randoms})} "
            "positions: pick the document AND the sentence at random (rng.choice)"
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
]


def _as_tensors(fn):
    """The learner's (ids, segments), lists or tensors, as two long tensors."""

    def call(*args):
        result = fn(*args)
        if not (isinstance(result, (tuple, list)) and len(result) == 2):
            return result  # run_cases explains what a pair of outputs should be
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


class _NoSegments(reference.BertEmbeddings):
    def forward(self, ids, segments):
        positions = torch.arange(ids.shape[1])
        return self.dropout(self.norm(self.tokens(ids) + self.positions(positions)))


class _NoPositions(reference.BertEmbeddings):
    def forward(self, ids, segments):
        return self.dropout(self.norm(self.tokens(ids) + self.segments(segments)))


class _NoNorm(reference.BertEmbeddings):
    def forward(self, ids, segments):
        positions = torch.arange(ids.shape[1])
        x = self.tokens(ids) + self.segments(segments) + self.positions(positions)
        return self.dropout(x)


class _PositionsFromOne(reference.BertEmbeddings):
    def forward(self, ids, segments):
        positions = torch.arange(1, ids.shape[1] + 1)
        x = self.tokens(ids) + self.segments(segments) + self.positions(positions)
        return self.dropout(self.norm(x))


class _DropoutBeforeNorm(reference.BertEmbeddings):
    def forward(self, ids, segments):
        positions = torch.arange(ids.shape[1])
        x = self.tokens(ids) + self.segments(segments) + self.positions(positions)
        return self.norm(self.dropout(x))


EMBEDDING_MISTAKES = [
    Mistake(
        "the segment embeddings are missing: add self.segments(segments), which tells sentence "
        "A's tokens from sentence B's",
        _NoSegments,
    ),
    Mistake(
        "the position embeddings are missing: add self.positions(torch.arange(seq_len)), or the "
        "model cannot tell word order",
        _NoPositions,
    ),
    Mistake(
        "the LayerNorm after the sum is missing: norm(tokens + segments + positions)",
        _NoNorm,
    ),
    Mistake(
        "positions start at 0: torch.arange(seq_len), not 1 .. seq_len",
        _PositionsFromOne,
    ),
    Mistake(
        "dropout comes last, after the LayerNorm: dropout(norm(sum))",
        _DropoutBeforeNorm,
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
                h = norm(F.relu(h) if knobs.get("relu") else F.gelu(h))
        else:
            h = states
        scores = h @ self.bert.embeddings.tokens.weight.T
        if knobs.get("bias", True):
            scores = scores + self.mlm_bias
        sentence = states[:, 0] if knobs.get("nsp") == "cls" else pooled
        return scores, self.nsp_head(sentence)


def _heads_with(**knobs) -> type:
    return type("WrongHeads", (_HeadsWith,), {"knobs": knobs})


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
        if self.pooling == "mean" or knobs.get("always_mean"):
            if knobs.get("mean_over_pads"):
                pooled = states.mean(dim=1)
            else:
                pooled = reference.mean_pool(states, padding)
        elif knobs.get("raw_cls"):
            pooled = states[:, 0]
        if knobs.get("dropout", True):
            pooled = self.dropout(pooled)
        return self.classifier(pooled)


def _classifier_with(**knobs) -> type:
    return type("WrongClassifier", (_ClassifierWith,), {"knobs": knobs})


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
        _classifier_with(dropout=False),
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
            ids = torch.randint(5, 40, (3, 8), generator=generator)
            ids[0, 5:], ids[2, 3:] = 0, 0  # padding at the end of two rows
            built = Built(model, (model.bert, 3, 0.3, pooling), training=training, seed=seed)
            cases.append(Case((built, ids)))
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
