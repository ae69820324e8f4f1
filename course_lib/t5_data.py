"""Text-to-text data for notebook 07: span corruption, five supervised tasks, and their mixture.

Dataset card
------------
Every task is "prefix: input" -> "output text", built from packages the setup command installs;
nothing is downloaded.

- **translate**: `num2words` (LGPL-2.1), the numbers below 1,000, each once; 750 / 100 / 150.
  "translate English to French: four hundred and two" -> "quatre cent deux".
- **summarize**: notebook 05's docstring pairs (stdlib, torch, numpy: PSF and BSD licences) and
  its split by summary; the article cut to its first 32 tokens.
  "summarize: Return a new tensor ..." -> "Returns a tensor filled with ...".
- **topic**: gensim's `mini_newsgroup` (a 20 Newsgroups subset, public research data): 200 posts
  from alt.atheism and sci.space; headers (they name the group), quotes, attribution lines and
  e-mail addresses removed; cut into pieces of 40 words. Split by post: 25 posts of each group to
  test, 10 to validation (at most 4 pieces of each, so that no post dominates), the rest to train.
  "topic: the shuttle will carry ..." -> "space".
- **question**: notebook 06's world facts (`facts_data`: capitals from gensim's
  `questions-words.txt`, currencies and official languages from Babel's CLDR data), asked as
  questions, closed-book: "question: what is the capital of japan?" -> "tokyo". The countries are
  split as in notebook 06 (seed 0): the questions about 70 countries are for training (three
  wordings each), 11 for validation and 35 for test (one wording). No question about a test country
  is ever trained on: its answer can only come from the pretraining text.
- **similarity**: pairs of English number phrases rated from 0 to 5 like STS-B, the score being
  5 x the share of the two phrases' words they have in common (Jaccard): "seven hundred and two" /
  "seven hundred and twelve" share 3 of 5 words -> 3.0. The input determines the score, so a model
  can learn it exactly. 2,000 / 200 / 400 pairs, the second number drawn by changing some digits of
  the first so that every score occurs.
- **span corruption** (pretraining): the world facts written as plain sentences (notebook 06's
  pretraining text, three phrasings per fact, every country); the held-out fourth phrasing is the
  validation text. "the capital of japan is tokyo ." -> "the capital of japan is <extra_id_0> ." /
  "<extra_id_0> tokyo" (`SpanCorruptionBatches` hides the fact's answer or country whole in most
  sentences: salient spans).

The question task is closed-book: the answers can only come from the model's weights, and the test
countries' facts appear only in the pretraining text. A model trained on the tasks alone cannot
know them; pretraining is what can put them there.

The tokenizer is a Unigram model (the algorithm of SentencePiece, which T5 uses) trained with
Hugging Face `tokenizers` on the training texts of all tasks: <pad> = 0, </s> = 1, <unk> = 2, then
the learned pieces, then the sentinels <extra_id_0> ... <extra_id_31> at the end of the vocabulary
(T5 numbers them downwards from its last id; here they count upwards).
Built in seconds on first use and cached (`data.cached_build`).
"""

from __future__ import annotations

import copyreg
import io
import json
import pickle
import random
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy
import torch

from . import packages
from .data import IGNORE_INDEX, cached_build, pad, stable_hash
from .facts_data import load_facts_corpus, split_countries
from .packages import gensim_test_data
from .summarization_data import load_docstring_summaries
from .translation_data import generate_pairs

try:  # where numpy keeps the function its pickles call numpy.core.multiarray._reconstruct
    from numpy._core.multiarray import _reconstruct
except ImportError:  # numpy < 2
    from numpy.core.multiarray import _reconstruct

tokenizers = packages.lazy("tokenizers", "tokenizers==0.23.3")
num2words = packages.lazy("num2words", "num2words==0.5.14")

PAD, EOS, UNK = "<pad>", "</s>", "<unk>"
PAD_ID, EOS_ID, UNK_ID = 0, 1, 2
NUM_SENTINELS = 32
TASKS = ("translate", "summarize", "topic", "question", "similarity")
SPLITS = ("train", "validation", "test")
DATA_VERSION = 9  # bump when the data changes, so old caches are not reused
SUMMARY_SOURCE_LEN = 32  # a docstring's first sentences: where its summary mostly comes from
SHORT = 24  # inputs of at most this many tokens are batched apart from the longer ones


def sentinel(index: int) -> str:
    return f"<extra_id_{index}>"


# --- span corruption -------------------------------------------------------------------------


def random_partition(total: int, pieces: int, rng: random.Random) -> list[int]:
    """`total` cut into `pieces` positive lengths at random cut points, e.g. 10, 3 -> [2, 5, 3]."""
    cuts = sorted(rng.sample(range(1, total), pieces - 1))
    return [end - start for start, end in zip([0, *cuts], [*cuts, total], strict=True)]


def random_spans(
    length: int, noise_density: float, mean_span_length: float, rng: random.Random
) -> list[bool]:
    """Which of `length` positions are noise (True), as T5's `random_spans_noise_mask`:
    round(length * noise_density) noise tokens in round(noise / mean_span_length) spans, the
    noise and the kept tokens each cut into that many random non-empty runs, kept runs first."""
    if length < 2:
        raise ValueError(f"span corruption needs at least 2 tokens, got {length}")
    num_noise = min(max(round(length * noise_density), 1), length - 1)
    num_spans = max(min(round(num_noise / mean_span_length), num_noise, length - num_noise), 1)
    noise_runs = random_partition(num_noise, num_spans, rng)
    kept_runs = random_partition(length - num_noise, num_spans, rng)
    mask = []
    for kept, noise in zip(kept_runs, noise_runs, strict=True):
        mask += [False] * kept + [True] * noise
    return mask


def span_corruption(
    tokens: list[int],
    sentinels: list[int],
    rng: random.Random,
    noise_density: float = 0.15,
    mean_span_length: float = 3.0,
) -> tuple[list[int], list[int]]:
    """T5's pretraining example: (inputs, targets). Each noise span is replaced in the inputs by
    one sentinel (the k-th span by sentinels[k]); the targets list each sentinel followed by the
    tokens it hides. E.g. [a b c d e f g], spans "b c" and "f" ->
    inputs [a S0 d e S1 g], targets [S0 b c S1 f]."""
    mask = random_spans(len(tokens), noise_density, mean_span_length, rng)
    inputs, targets, span = [], [], -1
    for position, (token, is_noise) in enumerate(zip(tokens, mask, strict=True)):
        if is_noise and (position == 0 or not mask[position - 1]):  # a span starts here
            span += 1
            if span >= len(sentinels):
                raise ValueError(f"more noise spans than the {len(sentinels)} sentinels")
            inputs.append(sentinels[span])
            targets.append(sentinels[span])
        (targets if is_noise else inputs).append(token)
    return inputs, targets


def reconstruct(inputs: list[int], targets: list[int], sentinels: list[int]) -> list[int]:
    """Undo `span_corruption`: put each sentinel's tokens from `targets` back into `inputs`."""
    hidden, current = {}, None
    for token in targets:
        if token in sentinels:
            current = token
            hidden[current] = []
        elif current is not None:
            hidden[current].append(token)
    restored = []
    for token in inputs:
        restored.extend(hidden.get(token, []) if token in sentinels else [token])
    return restored


# --- the tasks as text -----------------------------------------------------------------------


def round_like_stsb(score: float) -> str:
    """A 0-5 score as T5 writes STS-B targets: rounded to the nearest 0.2, one decimal."""
    return f"{round(score * 5) / 5:.1f}"


def parse_score(text: str, default: float) -> float:
    """The number a similarity answer starts with, or `default` when there is none (the inverse
    of `round_like_stsb`, for scoring)."""
    match = re.match(r"\s*(\d+(?:\.\d+)?)", text)
    return float(match.group(1)) if match else default


def to_text(task: str, example: dict) -> tuple[str, str]:
    """(input text, target text) of one example of `task` (see the table in the notebook)."""
    if task == "translate":
        return f"translate English to French: {example['english']}", example["french"]
    if task == "summarize":
        return f"summarize: {example['article']}", example["summary"]
    if task == "topic":
        return f"topic: {example['text']}", example["topic"]
    if task == "question":
        return f"question: {example['question']}", example["answer"]
    if task == "similarity":
        source = f"similarity sentence1: {example['sentence1']} sentence2: {example['sentence2']}"
        return source, round_like_stsb(example["score"])
    raise ValueError(f"unknown task {task!r}; the tasks are {', '.join(TASKS)}")


def mixing_rates(
    sizes: dict[str, int], cap: int | None = None, temperature: float = 1.0
) -> dict[str, float]:
    """How often to draw each task: proportional to min(size, cap) ** (1 / temperature) (T5,
    section 3.5.2). cap=None, temperature=1: examples-proportional; a large temperature tends to
    equal rates."""
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    weights = {
        name: min(size, cap if cap is not None else size) ** (1 / temperature)
        for name, size in sizes.items()
    }
    total = sum(weights.values())
    return {name: weight / total for name, weight in weights.items()}


# --- sources ---------------------------------------------------------------------------------


def _translate() -> dict[str, list[dict]]:
    pairs = generate_pairs(1_000, max_digits=3, date_fraction=0.0, seed=7)  # all of 0 ... 999
    rows = [{"english": p["en"], "french": p["fr"]} for p in pairs]
    return {"train": rows[:750], "validation": rows[750:850], "test": rows[850:]}


def _summarize() -> dict[str, list[dict]]:
    data = load_docstring_summaries()
    return {
        split: [
            {"article": a, "summary": s}  # the description alone (notebook 05 adds the name)
            for a, s in zip(data[split]["description"], data[split]["summary"], strict=True)
        ]
        for split in SPLITS
    }


class _NewsgroupUnpickler(pickle.Unpickler):
    """Only the few classes the file needs (a dict subclass and numpy arrays): unpickling runs
    code, so nothing else may load."""

    def find_class(self, module, name):
        allowed = {
            ("copy_reg", "_reconstructor"): copyreg._reconstructor,
            ("__builtin__", "dict"): dict,
            ("sklearn.datasets.base", "Bunch"): dict,
            ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
            ("numpy", "ndarray"): numpy.ndarray,
            ("numpy", "dtype"): numpy.dtype,
        }
        if (module, name) not in allowed:
            raise pickle.UnpicklingError(f"mini_newsgroup: refusing to load {module}.{name}")
        return allowed[module, name]


def clean_post(post: str) -> str:
    """A newsgroup post's own words: headers (they name the group), quoted lines, attribution
    lines, e-mail addresses and group names removed."""
    body = post.split("\n\n", 1)[1] if "\n\n" in post else ""
    lines = [
        line
        for line in body.splitlines()
        if not line.lstrip().startswith(("|", ">", ":"))
        and not re.search(r"\b(writes|wrote|says):?\s*$|^In article", line)
    ]
    text = " ".join(lines)
    text = re.sub(r"\S+@\S+|\b(alt\.atheism|sci\.space)\b|[-=_*#~]{3,}", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def _topic() -> dict[str, list[dict]]:
    raw = zlib.decompress(gensim_test_data("mini_newsgroup").read_bytes())
    bunch = _NewsgroupUnpickler(io.BytesIO(raw), encoding="latin1").load()
    names = {0: "atheism", 1: "space"}  # target_names: alt.atheism, sci.space
    splits = {name: [] for name in SPLITS}
    for target, topic in names.items():
        posts = sorted(
            (stable_hash(str(filename)), post)
            for post, label, filename in zip(
                bunch["data"], bunch["target"].tolist(), bunch["filenames"].tolist(), strict=True
            )
            if label == target
        )
        for rank, (_, post) in enumerate(posts):  # 25 posts of each group to test, 10 to validate
            split = "test" if rank < 25 else "validation" if rank < 35 else "train"
            words = clean_post(post).split()
            pieces = [words[start : start + 40] for start in range(0, len(words), 40)]
            pieces = [piece for piece in pieces if len(piece) >= 15]
            for piece in pieces if split == "train" else pieces[:4]:  # test: no post dominates
                splits[split].append({"text": " ".join(piece), "topic": topic})
    return splits


QUESTION_WORDINGS = {  # training asks each fact three ways; validation and test the first way
    "capital": (
        "what is the capital of {}?",
        "name the capital of {}.",
        "which city is the capital of {}?",
    ),
    "currency": (
        "what is the currency of {}?",
        "name the currency of {}.",
        "which money is used in {}?",
    ),
    "language": (
        "what is the official language of {}?",
        "name the official language of {}.",
        "which language is spoken in {}?",
    ),
}


def question_countries() -> dict[str, list[str]]:
    """The countries of each split of the question task: notebook 06's split (seed 0), its
    fine-tuning countries cut again into train and validation (every 8th)."""
    tuning, test = split_countries(load_facts_corpus())
    validation = tuning[::8]
    return {
        "train": [c for c in tuning if c not in validation],
        "validation": validation,
        "test": test,
    }


def _question() -> dict[str, list[dict]]:
    facts = load_facts_corpus().facts
    splits = {}
    for split, countries in question_countries().items():
        splits[split] = [
            {"question": wording.format(fact.country), "answer": fact.value, "kind": fact.relation}
            for fact in facts
            if fact.country in countries
            for wording in QUESTION_WORDINGS[fact.relation][: 3 if split == "train" else 1]
        ]
    return splits


def number_words(number: int) -> set[str]:
    """The words of a number's English phrase ("sixty-five" counts as sixty and five)."""
    return set(num2words.num2words(number).replace("-", " ").replace(",", "").split())


def _similarity() -> dict[str, list[dict]]:
    rng = random.Random(11)
    seen, rows = set(), []
    while len(rows) < 2_600:
        first = rng.randint(1, 9_999)
        change = rng.random()  # the chance that each digit is redrawn
        second = (
            int(
                "".join(
                    digit if rng.random() > change else str(rng.randint(0, 9))
                    for digit in str(first)
                )
            )
            or 1
        )
        if (first, second) in seen:
            continue
        seen.add((first, second))
        words1, words2 = number_words(first), number_words(second)
        rows.append(
            {
                "sentence1": num2words.num2words(first),
                "sentence2": num2words.num2words(second),
                "score": 5 * len(words1 & words2) / len(words1 | words2),
            }
        )
    return {"train": rows[:2_000], "validation": rows[2_000:2_200], "test": rows[2_200:]}


def _fact_sentences() -> dict[str, list[list]]:
    """[words, country position, value position] of the facts' sentences: train = notebook 06's
    pretraining text (three phrasings), validation = the held-out fourth phrasing."""
    corpus = load_facts_corpus()
    return {
        "train": [list(sentence) for sentence in corpus.sentences],
        "validation": [list(sentence) for sentence in corpus.held_out],
    }


# --- the assembled data ----------------------------------------------------------------------


class T5Batch(NamedTuple):
    input_ids: torch.Tensor  # (batch, source_len), padded with 0
    labels: torch.Tensor  # (batch, target_len), padded with IGNORE_INDEX (-100)
    tasks: list  # the task of each row


def pad_batch(pairs: list[tuple[list[int], list[int]]], tasks: list[str]) -> T5Batch:
    """(input ids, target ids) pairs -> a `T5Batch`: inputs padded with <pad>, labels with
    IGNORE_INDEX, which the loss skips."""
    return T5Batch(
        pad([source for source, _ in pairs], PAD_ID),
        pad([target for _, target in pairs], IGNORE_INDEX),
        tasks,
    )


@dataclass
class MultitaskData:
    """The five tasks' examples (`tasks[name][split]`: list of dicts), the pretraining text
    (`facts[split]`: [words, country position, value position] per sentence; "train" and
    "validation") and the Unigram tokenizer."""

    tasks: dict
    facts: dict
    tokenizer: object
    max_source_len: int = 48
    max_target_len: int = 16

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size()

    @property
    def sentinel_ids(self) -> list[int]:
        return [self.tokenizer.token_to_id(sentinel(i)) for i in range(NUM_SENTINELS)]

    def encode(self, text: str, max_len: int) -> list[int]:
        """Token ids of `text`, cut to max_len - 1, then </s>."""
        return self.tokenizer.encode(text).ids[: max_len - 1] + [EOS_ID]

    def decode(self, ids) -> str:
        return self.tokenizer.decode([int(i) for i in ids if int(i) != EOS_ID]).strip()

    def encoded(
        self, task: str, split: str, formatter=to_text
    ) -> list[tuple[list[int], list[int]]]:
        """(input ids, target ids) of every example of `task` in `split`."""
        texts = [formatter(task, example) for example in self.tasks[task][split]]
        sources = self.tokenizer.encode_batch([source for source, _ in texts])
        targets = self.tokenizer.encode_batch([target for _, target in texts])
        source_len = SUMMARY_SOURCE_LEN if task == "summarize" else self.max_source_len
        return [
            (s.ids[: source_len - 1] + [EOS_ID], t.ids[: self.max_target_len - 1] + [EOS_ID])
            for s, t in zip(sources, targets, strict=True)
        ]

    @property
    def documents(self) -> dict[str, list[str]]:
        """The pretraining sentences of each split as plain text."""
        return {
            split: [" ".join(words) for words, _, _ in rows] for split, rows in self.facts.items()
        }

    def fact_pieces(self, split: str) -> list[tuple[list[list[int]], int, int]]:
        """Each pretraining sentence of `split` as (token ids of each word, country position,
        value position): a word's pieces are the same alone as inside the sentence, because the
        pre-tokenizer cuts at spaces first."""
        rows = self.facts[split]
        words = sorted({word for sentence, _, _ in rows for word in sentence})
        ids = dict(zip(words, (e.ids for e in self.tokenizer.encode_batch(words)), strict=True))
        return [
            ([ids[word] for word in sentence], country, value) for sentence, country, value in rows
        ]

    def sizes(self, split: str = "train") -> dict[str, int]:
        return {task: len(self.tasks[task][split]) for task in TASKS}

    def describe(self) -> str:
        lines = [f"{'task':<16}{'train':>8}{'validation':>12}{'test':>7}"]
        for task in TASKS:
            counts = [len(self.tasks[task][split]) for split in SPLITS]
            lines.append(f"{task:<16}{counts[0]:>8,}{counts[1]:>12,}{counts[2]:>7,}")
        sentences = [len(self.facts[split]) for split in ("train", "validation")]
        lines.append(
            f"{'pretraining':<16}{sentences[0]:>8,}{sentences[1]:>12,}{'-':>7}  (sentences)"
        )
        lines.append(
            f"Unigram vocabulary: {self.vocab_size:,} pieces, {NUM_SENTINELS} of them sentinels"
        )
        return "\n".join(lines)


class SpanCorruptionBatches:
    """Endless re-iterable `T5Batch`es of span-corrupted pretraining sentences (one pass =
    `per_epoch` batches), drawn with their own seeded random generator. Salient spans, as notebook
    06 masked whole facts: half the sentences hide their answer (the fact's value) whole behind
    <extra_id_0>, 30% of the others the country; the rest get T5's random span corruption."""

    def __init__(
        self,
        data: MultitaskData,
        batch_size: int,
        seed: int = 0,
        per_epoch: int = 100,
        split: str = "train",
    ):
        self.sentences = data.fact_pieces(split)
        self.sentinels = data.sentinel_ids
        self.batch_size, self.per_epoch = batch_size, per_epoch
        self.rng = random.Random(seed)

    def example(self) -> tuple[list[int], list[int]]:
        words, country, value = self.rng.choice(self.sentences)
        chance = self.rng.random()
        if chance < 0.5 + 0.5 * 0.3:  # a salient span: the value or the country, whole
            hidden = value if chance < 0.5 else country
            before = [i for word in words[:hidden] for i in word]
            after = [i for word in words[hidden + 1 :] for i in word]
            inputs = before + [self.sentinels[0]] + after
            targets = [self.sentinels[0]] + words[hidden]
        else:
            tokens = [i for word in words for i in word]
            inputs, targets = span_corruption(tokens, self.sentinels, self.rng)
        return inputs + [EOS_ID], targets + [EOS_ID]

    def __len__(self):
        return self.per_epoch

    def __iter__(self):
        for _ in range(self.per_epoch):
            pairs = [self.example() for _ in range(self.batch_size)]
            yield pad_batch(pairs, ["span corruption"] * self.batch_size)


class MixtureBatches:
    """Endless re-iterable mixed batches: each row's task is drawn with `rates` (a dict task ->
    probability; "span corruption" may be one of them), then a random example of it. A batch is a
    list of two `T5Batch`es, the rows with short inputs and those with long ones, so that short
    examples are not padded to the length of long ones; `t5.seq2seq_loss` takes the list and
    averages over all its target tokens, as for one batch."""

    def __init__(
        self,
        data: MultitaskData,
        rates: dict[str, float],
        batch_size: int,
        seed: int = 0,
        per_epoch: int = 100,
        formatter=to_text,
    ):
        self.examples = {
            task: data.encoded(task, "train", formatter)
            for task in rates
            if task != "span corruption"
        }
        self.span_corruption = (
            SpanCorruptionBatches(data, 1, seed) if "span corruption" in rates else None
        )
        self.tasks, self.weights = list(rates), list(rates.values())
        self.batch_size, self.per_epoch = batch_size, per_epoch
        self.rng = random.Random(seed)

    def __len__(self):
        return self.per_epoch

    def __iter__(self):
        for _ in range(self.per_epoch):
            tasks = self.rng.choices(self.tasks, self.weights, k=self.batch_size)
            rows = [
                (self.span_corruption.example(), task)
                if task == "span corruption"
                else (self.rng.choice(self.examples[task]), task)
                for task in tasks
            ]
            groups = (
                [row for row in rows if len(row[0][0]) <= SHORT],
                [row for row in rows if len(row[0][0]) > SHORT],
            )
            yield [
                pad_batch([pair for pair, _ in group], [task for _, task in group])
                for group in groups
                if group
            ]


def load_multitask_data(vocab_size: int = 4000) -> MultitaskData:
    """The five tasks, the span-corruption documents and the tokenizer (see the dataset card);
    built on first use (seconds, plus notebook 05's docstring data if it is not cached yet)."""
    settings = {"version": DATA_VERSION, "vocab_size": vocab_size}
    folder = cached_build("t5-multitask", settings, lambda folder: _build(folder, vocab_size))
    stored = json.loads((folder / "tasks.json").read_text())
    tokenizer = tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json"))
    return MultitaskData(stored["tasks"], stored["facts"], tokenizer)


def _build(folder: Path, vocab_size: int) -> None:
    tasks = {
        "translate": _translate(),
        "summarize": _summarize(),
        "topic": _topic(),
        "question": _question(),
        "similarity": _similarity(),
    }
    facts = _fact_sentences()
    (folder / "tasks.json").write_text(json.dumps({"tasks": tasks, "facts": facts}))
    texts = [" ".join(words) for words, _, _ in facts["train"]]
    for task in TASKS:
        for example in tasks[task]["train"]:
            texts.extend(to_text(task, example))
    _train_unigram(texts, vocab_size).save(str(folder / "tokenizer.json"))


def _train_unigram(texts, vocab_size: int):
    tokenizer = tokenizers.Tokenizer(tokenizers.models.Unigram())
    tokenizer.normalizer = tokenizers.normalizers.NFKC()
    tokenizer.pre_tokenizer = tokenizers.pre_tokenizers.Metaspace()
    tokenizer.decoder = tokenizers.decoders.Metaspace()
    trainer = tokenizers.trainers.UnigramTrainer(
        vocab_size=vocab_size - NUM_SENTINELS,
        special_tokens=[PAD, EOS, UNK],  # ids 0, 1, 2
        unk_token=UNK,
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer)
    tokenizer = _in_a_fixed_order(tokenizer, specials=3)
    tokenizer.add_special_tokens([sentinel(i) for i in range(NUM_SENTINELS)])
    assert [tokenizer.token_to_id(t) for t in (PAD, EOS, UNK)] == [PAD_ID, EOS_ID, UNK_ID]
    return tokenizer


def _in_a_fixed_order(tokenizer, specials: int):
    """The same Unigram tokenizer with its pieces in a fixed order: the `specials` first, then by
    score (rounded), then by spelling. The trainer learns the same pieces every time, but their
    scores differ in the last digits, and the rare characters it must keep get made-up scores
    0.0001 apart in a hash table's order, which changes from run to run; the order decides the
    ids, and the ids which embedding row each piece gets. (A real score that happens to fall on
    that grid is shuffled with the made-up ones, in the same fixed way on every build.)"""
    spec = json.loads(tokenizer.to_str())
    kept, rest = spec["model"]["vocab"][:specials], spec["model"]["vocab"][specials:]
    rest = [[piece, round(score, 8)] for piece, score in rest]  # [piece, log probability]
    lowest = min((score for _, score in rest), default=0.0)
    made_up = [  # single characters scored lowest + 0.0001 * k, k = 0, 1, 2, ...
        item
        for item in rest
        if len(item[0]) == 1
        and abs(item[1] - lowest - round((item[1] - lowest) / 1e-4) * 1e-4) < 1e-7
    ]
    scores = sorted((score for _, score in made_up), reverse=True)
    for item, score in zip(sorted(made_up), scores, strict=True):
        item[1] = score
    spec["model"]["vocab"] = kept + sorted(rest, key=lambda item: (-item[1], item[0]))
    return tokenizers.Tokenizer.from_str(json.dumps(spec))
