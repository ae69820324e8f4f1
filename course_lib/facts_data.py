"""Facts about countries for BERT (notebook 06): a pretraining text in which every sentence states a
fact, a word-level vocabulary, masking that hides whole facts, and a downstream task that needs
the facts (is this the capital / currency / language of that country?).

Dataset card: world facts
-------------------------
- **Source**: capitals from the analogy questions shipped with `gensim`'s test data
  (`questions-words.txt`, sections `capital-common-countries` and `capital-world`; Mikolov et al.
  2013; LGPL-2.1 package); currencies and official languages from the Unicode CLDR data shipped
  with `Babel` (`get_territory_currencies`, `get_official_languages`, English display names;
  Unicode licence). Nothing is downloaded.
- **Derivation**: the 116 countries of the capital questions, matched to CLDR territories by
  their English name (Turkey, Macedonia and England by hand). A country's currency is the last word
  of the English name of its current currency ("Kenyan Shilling" -> "shilling"); its language is
  the English name of its first official language, when that name is one word. The facts say what
  CLDR says today (Croatia pays in euros) and what the 2013 questions said (Kiev, not Kyiv).
- **Text**: each fact can be written in 4 phrasings (`TEMPLATES`), lower-cased, one sentence each.
  Three of them are the pretraining text; the fourth (a different one for each fact, in turn) is
  held out: a sentence the model never saw, stating a fact it saw in other words, for testing
  masked-word prediction.
- **Downstream task**: (question, candidate) pairs such as ("the capital of japan", "tokyo"), half
  true, half with the value of another country for the same relation. The countries are split once
  (seed 0) into 70% for fine-tuning and 30% for test; every country is in the pretraining text,
  none of the test countries is in the fine-tuning data.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import NamedTuple

import torch

from . import packages
from .data import IGNORE_INDEX, pad
from .packages import gensim_test_data
from .pretraining_data import mask_tokens

babel = packages.lazy("babel", "Babel==2.18.0")
babel_languages = packages.lazy("babel.languages", "Babel==2.18.0")
babel_numbers = packages.lazy("babel.numbers", "Babel==2.18.0")

SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
PAD_ID, UNK_ID, CLS_ID, SEP_ID, MASK_ID = range(5)
RELATIONS = ("capital", "currency", "language")
TEMPLATES = {  # {c}: the country, {v}: the value; the pretraining text
    "capital": (
        "the capital of {c} is {v} .",
        "{v} is the capital city of {c} .",
        "the government of {c} sits in {v} .",
        "{c} is governed from {v} .",
    ),
    "currency": (
        "the currency of {c} is the {v} .",
        "in {c} people pay with the {v} .",
        "{c} uses the {v} as its money .",
        "the {v} is the money of {c} .",
    ),
    "language": (
        "the official language of {c} is {v} .",
        "people in {c} speak {v} .",
        "{v} is spoken in {c} .",
        "in {c} the law is written in {v} .",
    ),
}
QUESTIONS = {  # the downstream task's first segment
    "capital": "the capital of {c}",
    "currency": "the currency of {c}",
    "language": "the official language of {c}",
}
TERRITORY_BY_HAND = {"Turkey": "TR", "Macedonia": "MK", "England": "GB"}


class Fact(NamedTuple):
    country: str
    relation: str
    value: str


def load_facts() -> list[Fact]:
    """Every fact of the dataset card, sorted by country then relation (all lower-case)."""
    capitals = {}
    section = ""
    for line in gensim_test_data("questions-words.txt").read_text().splitlines():
        if line.startswith(":"):
            section = line[1:].strip()
        elif section in ("capital-common-countries", "capital-world"):
            words = line.split()
            capitals[words[1]], capitals[words[3]] = words[0], words[2]
    english = babel.Locale("en")
    territories = {name: code for code, name in english.territories.items()}
    facts = []
    for country, capital in sorted(capitals.items()):
        facts.append(Fact(country.lower(), "capital", capital.lower()))
        code = TERRITORY_BY_HAND.get(country) or territories.get(country)
        if code is None:
            continue
        currencies = babel_numbers.get_territory_currencies(code)
        if currencies:
            name = english.currencies.get(currencies[0], "")
            if name:
                facts.append(Fact(country.lower(), "currency", name.split()[-1].lower()))
        languages = babel_languages.get_official_languages(code)
        if languages:
            name = english.languages.get(languages[0], "")
            if name and " " not in name:
                facts.append(Fact(country.lower(), "language", name.lower()))
    return facts


def fact_sentence(fact: Fact, template: str) -> tuple[list[str], int, int]:
    """(words, position of the country, position of the value) of `fact` written with
    `template`."""
    words = template.split()
    country, value = words.index("{c}"), words.index("{v}")
    words[country], words[value] = fact.country, fact.value
    return words, country, value


@dataclass
class FactsCorpus:
    """The facts, their pretraining sentences and held-out sentences (words, country position,
    value position) and a word-level vocabulary: `SPECIALS` first, then every word of the
    sentences and the questions."""

    facts: list[Fact]
    sentences: list[tuple[list[str], int, int]]
    held_out: list[tuple[list[str], int, int]]
    vocabulary: list[str]

    def __post_init__(self):
        self.ids = {word: index for index, word in enumerate(self.vocabulary)}

    @property
    def vocab_size(self) -> int:
        return len(self.vocabulary)

    def encode(self, words: list[str]) -> list[int]:
        """Word ids ([UNK] for a word outside the vocabulary)."""
        return [self.ids.get(word, UNK_ID) for word in words]

    def encode_sentence(self, words: list[str]) -> list[int]:
        """Ids of [CLS] words [SEP]: one sentence as BERT reads it."""
        return [CLS_ID, *self.encode(words), SEP_ID]

    def decode(self, ids) -> list[str]:
        return [self.vocabulary[i] for i in ids]

    def countries(self) -> list[str]:
        return sorted({fact.country for fact in self.facts})

    def describe(self) -> str:
        relations = ", ".join(f"{sum(f.relation == r for f in self.facts)} {r}" for r in RELATIONS)
        return (
            f"{len(self.facts)} facts about {len(self.countries())} countries ({relations}); "
            f"{len(self.sentences):,} pretraining sentences, {len(self.held_out)} held out; "
            f"a vocabulary of {self.vocab_size} words"
        )


def load_facts_corpus() -> FactsCorpus:
    """The facts, each written in the templates of `TEMPLATES`: fact number i's template i mod 4
    is held out, the other three are the pretraining text."""
    facts = load_facts()
    sentences, held_out = [], []
    for index, fact in enumerate(facts):
        for number, template in enumerate(TEMPLATES[fact.relation]):
            chosen = held_out if number == index % len(TEMPLATES[fact.relation]) else sentences
            chosen.append(fact_sentence(fact, template))
    words = {word for sentence, _, _ in sentences + held_out for word in sentence}
    words |= {word for question in QUESTIONS.values() for word in question.split()} - {"{c}"}
    return FactsCorpus(facts, sentences, held_out, [*SPECIALS, *sorted(words)])


# --- pretraining: masking that hides whole facts ---------------------------------------------


class FactsBatch(NamedTuple):
    """inputs, segments, labels (batch, seq) long; padding (batch, seq) bool (True = real)."""

    inputs: torch.Tensor
    segments: torch.Tensor
    padding: torch.Tensor
    labels: torch.Tensor


def mask_facts(
    corpus: FactsCorpus, rows: list[tuple[list[str], int, int]], generator: torch.Generator
) -> FactsBatch:
    """One MLM batch of `rows` (sentences from `corpus.sentences`) as [CLS] words [SEP]. Each
    sentence, drawing from `generator`: with probability 1/2 its value is hidden (salient-span
    masking: the answer, whole); else with probability 0.3 its country; else BERT's 15% random
    masking (`pretraining_data.mask_tokens`, 80/10/10). Labels are IGNORE_INDEX except at the
    hidden positions."""
    ids = pad([corpus.encode_sentence(words) for words, _, _ in rows], PAD_ID)
    special = (ids == PAD_ID) | (ids == CLS_ID) | (ids == SEP_ID)
    inputs, labels = mask_tokens(ids, special, MASK_ID, corpus.vocab_size, generator)
    draw = torch.rand(len(rows), generator=generator).tolist()
    for row, ((_, country, value), chance) in enumerate(zip(rows, draw, strict=True)):
        if chance < 0.5 + 0.5 * 0.3:
            hidden = 1 + (value if chance < 0.5 else country)  # +1: [CLS]
            labels[row] = IGNORE_INDEX
            labels[row, hidden] = ids[row, hidden]
            inputs[row] = ids[row]
            inputs[row, hidden] = MASK_ID
    return FactsBatch(inputs, torch.zeros_like(ids), ids != PAD_ID, labels)


class FactsBatches:
    """Re-iterable MLM batches over the corpus's sentences: a new shuffle and a new masking each
    pass, drawn from their own generator seeded with `seed`."""

    def __init__(self, corpus: FactsCorpus, batch_size: int, seed: int):
        self.corpus, self.batch_size = corpus, batch_size
        self.generator = torch.Generator().manual_seed(seed)

    def __iter__(self):
        sentences = self.corpus.sentences
        order = torch.randperm(len(sentences), generator=self.generator).tolist()
        for start in range(0, len(order), self.batch_size):
            rows = [sentences[i] for i in order[start : start + self.batch_size]]
            yield mask_facts(self.corpus, rows, self.generator)

    def __len__(self):
        return -(-len(self.corpus.sentences) // self.batch_size)


def fill_in_queries(sentences) -> list[tuple[list[str], str]]:
    """(words with the value replaced by [MASK], the value) for each sentence (words, country
    position, value position)."""
    queries = []
    for words, _, value in sentences:
        masked = list(words)
        masked[value] = "[MASK]"
        queries.append((masked, words[value]))
    return queries


# --- the downstream task: is this the right value? --------------------------------------------


def split_countries(corpus: FactsCorpus, test_share: float = 0.3, seed: int = 0):
    """(fine-tuning countries, test countries), a fixed random split of the countries."""
    countries = corpus.countries()
    random.Random(seed).shuffle(countries)
    cut = round(len(countries) * (1 - test_share))
    return sorted(countries[:cut]), sorted(countries[cut:])


def verification_examples(corpus: FactsCorpus, countries: list[str], seed: int = 0):
    """Two examples per fact of `countries`: (question words, candidate word, label) with label 1
    for the true value and 0 for the value of another of `countries` that differs from it. The
    wrong candidates are drawn from the same values as the right ones, so a candidate alone says
    nothing about the label (drawn from all countries, a capital seen as right in fine-tuning would
    mostly appear as wrong at test)."""
    rng = random.Random(seed)
    facts = [fact for fact in corpus.facts if fact.country in countries]
    values = {r: [f.value for f in facts if f.relation == r] for r in RELATIONS}
    if len({fact.country for fact in facts}) < 2:
        raise ValueError(
            f"verification pairs need at least two countries (a wrong candidate is another "
            f"country's answer); got {sorted(countries)}"
        )
    examples = []
    for fact in facts:
        question = QUESTIONS[fact.relation].format(c=fact.country).split()
        others = [v for v in values[fact.relation] if v != fact.value]
        if others:  # (among a few countries, all may share one answer: then no pair)
            examples += [(question, fact.value, 1), (question, rng.choice(others), 0)]
    return examples


class PairBatch(NamedTuple):
    """ids, segments (batch, seq) long; padding (batch, seq) bool (True = real); labels (batch,)."""

    ids: torch.Tensor
    segments: torch.Tensor
    padding: torch.Tensor
    labels: torch.Tensor


def encode_examples(corpus: FactsCorpus, examples) -> PairBatch:
    """All `examples` as one batch of [CLS] question [SEP] candidate [SEP], segments 0 then 1."""
    ids, segments = [], []
    for question, candidate, _ in examples:
        ids.append([*corpus.encode_sentence(question), *corpus.encode([candidate]), SEP_ID])
        segments.append([0] * (len(question) + 2) + [1, 1])
    ids = pad(ids, PAD_ID)
    labels = torch.tensor([label for *_, label in examples])
    return PairBatch(ids, pad(segments, 0), ids != PAD_ID, labels)


def encode_examples_with(tokenizer, examples) -> PairBatch:
    """`encode_examples` with a real BERT tokenizer (a `tokenizers.Tokenizer`, e.g. MiniLM's
    WordPiece): the question and the candidate as a text pair."""
    encodings = tokenizer.encode_batch([(" ".join(q), candidate) for q, candidate, _ in examples])
    ids = pad([encoding.ids for encoding in encodings], PAD_ID)
    segments = pad([encoding.type_ids for encoding in encodings], 0)
    labels = torch.tensor([label for *_, label in examples])
    return PairBatch(ids, segments, ids != PAD_ID, labels)


class PairBatches:
    """Re-iterable shuffled mini-batches of an encoded `PairBatch` (torch's global generator)."""

    def __init__(self, examples: PairBatch, batch_size: int):
        self.examples, self.batch_size = examples, batch_size

    def __iter__(self):
        for rows in torch.randperm(len(self.examples.labels)).split(self.batch_size):
            yield PairBatch(*(tensor[rows] for tensor in self.examples))

    def __len__(self):
        return -(-len(self.examples.labels) // self.batch_size)
