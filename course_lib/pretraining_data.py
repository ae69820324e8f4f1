"""Text for BERT (notebooks 06, 06b and 08): a small pretraining corpus and its WordPiece
tokenizer, the two pretraining tasks (masking tokens for MLM, sentence pairs for NSP) and their
batches, and a labelled sentiment task for fine-tuning.

Dataset card: pretraining corpus
--------------------------------
- **Source**: two files shipped inside the `gensim` package's test data (LGPL-2.1 package; the
  texts are Wikipedia articles, CC BY-SA, and the Lee news corpus of Lee et al. 2005, Australian
  Broadcasting Corporation news): `enwiki-latest-pages-articles1.xml-p000000010p000030302-
  shortened.bz2` (the first articles of an English Wikipedia dump, shortened) and
  `lee_background.cor` (300 news articles, one per line). Nothing is downloaded.
- **Derivation**: Wikipedia pages of the main namespace, redirects dropped, markup removed with
  gensim's `filter_wiki`; headings, captions and other lines of fewer than 8 words dropped; each
  remaining line is a paragraph. Each Lee article is one paragraph. Paragraphs are split into
  sentences at ., ! or ? followed by a space and a capital letter (a simple rule: "Dr. Smith"
  is cut in two). Documents keep their sentences in order, which next-sentence prediction needs.
  Documents go to train (90%) or validation (10%) by a hash of their title. NSP pairs are drawn
  within each source, so that a random sentence comes from the same source as the real one.
- **Size**: 406 documents (361 train, 45 validation), 24,307 sentences, about half a million
  words. Sentences shorter than 3 words (fragments, mostly) are dropped, so a "next" sentence
  occasionally skips one.
- **Tokenizer**: WordPiece, 8,000 tokens, lower-cased, learned from the train documents by
  `wordpiece_vocabulary` (byte-pair merges, as Hugging Face's trainer learns them, with ties
  broken by spelling, so that every build gives the same vocabulary) and run by Hugging Face
  `tokenizers`; special tokens [PAD] (id 0), [UNK], [CLS], [SEP], [MASK].

Dataset card: sentiment task
----------------------------
- **Source**: `pang_lee_polarity.cor` in gensim's test data: 200 sentences of movie reviews (100
  negative, 100 positive), a sample of the sentence polarity dataset v1.0 of Pang and Lee (2005),
  which its authors released for research use; gensim (LGPL-2.1) ships it for its tests.
- **Folds**: 5 fixed folds of 40 sentences (20 of each label), for cross-validation: with 200
  examples one split's accuracy moves by several points with the split, so results are reported
  as mean ± standard deviation over the folds.

Built in a few seconds on first use, then read from the course cache (`data.cached_build`).
"""

from __future__ import annotations

import bz2
import heapq
import json
import random
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import NamedTuple

import torch

from . import packages
from .data import IGNORE_INDEX, cached_build, hash_split, pad
from .packages import gensim_test_data

tokenizers = packages.lazy("tokenizers", "tokenizers==0.23.3")
wikicorpus = packages.lazy("gensim.corpora.wikicorpus", "gensim==4.4.0")

SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
PAD_ID, UNK_ID, CLS_ID, SEP_ID, MASK_ID = range(5)
WIKIPEDIA = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
LEE = "lee_background.cor"
POLARITY = "pang_lee_polarity.cor"
CORPUS_VERSION = 2  # bump when the corpus or its tokenizer changes, so old caches are not reused


def split_sentences(paragraph: str) -> list[str]:
    """Sentences of a paragraph: cut after . ! or ? when a space and a capital (or a quote)
    follow. Simple and imperfect (abbreviations such as "Dr. Smith" are cut)."""
    parts = re.split(r"(?<=[.!?])\s+(?=[A-Z\"'(])", paragraph.strip())
    return [part.strip() for part in parts if len(part.split()) >= 3]


def _wikipedia_documents() -> list[dict]:
    documents = []
    with bz2.open(gensim_test_data(WIKIPEDIA)) as file:
        for title, text, _ in wikicorpus.extract_pages(file, filter_namespaces=("0",)):
            if text.lstrip().upper().startswith("#REDIRECT"):
                continue
            clean = wikicorpus.filter_wiki(text).replace("'''", "").replace("''", "")
            paragraphs = []
            for line in clean.splitlines():
                line = re.sub(r"\s+", " ", line).strip()
                if line.startswith("=") or len(line.split()) < 8:
                    continue
                sentences = split_sentences(line)
                if sentences:
                    paragraphs.append(sentences)
            if paragraphs:
                documents.append({"source": "wikipedia", "title": title, "paragraphs": paragraphs})
    return documents


def _lee_documents() -> list[dict]:
    text = gensim_test_data(LEE).read_text(encoding="utf-8", errors="replace")
    documents = []
    for number, line in enumerate(text.splitlines()):
        sentences = split_sentences(re.sub(r"\s+", " ", line))
        if sentences:
            title = f"lee-{number:03d}"
            documents.append({"source": "lee", "title": title, "paragraphs": [sentences]})
    return documents


def document_sentences(document: dict) -> list[str]:
    """A document's sentences in order, across its paragraphs."""
    return [sentence for paragraph in document["paragraphs"] for sentence in paragraph]


@dataclass
class PretrainingCorpus:
    """Documents (each a list of paragraphs, each a list of sentences) per split, and the
    WordPiece tokenizer (`tokenizers.Tokenizer`; encode(a, b) gives [CLS] a [SEP] b [SEP] with
    segment ids in `type_ids`)."""

    splits: dict  # "train" / "validation" -> list of {"source", "title", "paragraphs"}
    tokenizer: object

    def sentences(self, split: str, source: str | None = None) -> list[list[str]]:
        """Each document of `split` (only those of `source`, "wikipedia" or "lee", if given) as
        one list of its sentences, in order."""
        if split not in self.splits:
            raise KeyError(f"unknown split {split!r}; the splits are train, validation")
        return [
            document_sentences(document)
            for document in self.splits[split]
            if source is None or document["source"] == source
        ]

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size()

    def describe(self) -> str:
        parts = []
        for split, documents in self.splits.items():
            sentences = sum(len(s) for s in self.sentences(split))
            paragraphs = sum(len(d["paragraphs"]) for d in documents)
            parts.append(
                f"{split}: {len(documents)} documents, {paragraphs:,} paragraphs, "
                f"{sentences:,} sentences"
            )
        return "; ".join(parts) + f"; WordPiece vocabulary {self.vocab_size:,}"


def load_pretraining_corpus(vocab_size: int = 8000) -> PretrainingCorpus:
    """The pretraining corpus and its tokenizer (see the dataset card), cached after the first
    build (a few seconds)."""
    settings = {"version": CORPUS_VERSION, "vocab_size": vocab_size}
    folder = cached_build("pretraining-corpus", settings, lambda folder: _build(folder, vocab_size))
    splits = json.loads((folder / "documents.json").read_text())
    tokenizer = tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json"))
    return PretrainingCorpus(splits, tokenizer)


def _build(folder: Path, vocab_size: int) -> None:
    splits = {"train": [], "validation": []}
    for document in _wikipedia_documents() + _lee_documents():
        splits[hash_split(document["title"], test=0, validation=1)].append(document)
    (folder / "documents.json").write_text(json.dumps(splits))
    texts = [sentence for document in splits["train"] for sentence in document_sentences(document)]
    _train_wordpiece(texts, vocab_size).save(str(folder / "tokenizer.json"))


def _train_wordpiece(texts, vocab_size: int):
    """The course's WordPiece tokenizer for `texts`: BERT's normaliser (lower case, accents
    stripped) and pre-tokeniser (words and punctuation), the vocabulary of `wordpiece_vocabulary`,
    and [CLS] A [SEP] (B [SEP]) around the tokens."""
    normalizer = tokenizers.normalizers.BertNormalizer(lowercase=True)
    pre_tokenizer = tokenizers.pre_tokenizers.BertPreTokenizer()
    words = Counter(
        word
        for text in texts
        for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text))
    )
    vocabulary = wordpiece_vocabulary(words, vocab_size, SPECIALS)
    model = tokenizers.models.WordPiece(
        {token: index for index, token in enumerate(vocabulary)}, unk_token="[UNK]"
    )
    tokenizer = tokenizers.Tokenizer(model)
    tokenizer.normalizer, tokenizer.pre_tokenizer = normalizer, pre_tokenizer
    tokenizer.decoder = tokenizers.decoders.WordPiece()
    tokenizer.add_special_tokens(list(SPECIALS))
    tokenizer.post_processor = tokenizers.processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", CLS_ID), ("[SEP]", SEP_ID)],
    )
    return tokenizer


def wordpiece_vocabulary(
    words: Counter, vocab_size: int, specials: tuple[str, ...], prefix: str = "##"
) -> list[str]:
    """A WordPiece vocabulary, learned from word counts as Hugging Face's WordPiece trainer
    learns it (Google's original WordPiece chose each merge by likelihood instead of count).

    Every word starts as its characters, the ones after the first marked as continuations
    ("token" -> t ##o ##k ##e ##n). The vocabulary starts with `specials` and every such piece;
    then, until it holds `vocab_size` tokens, the most frequent pair of neighbouring pieces over
    all words is merged into one new token (t + ##o -> to, ##k + ##e -> ##ke), which replaces the
    pair wherever it stands. Ties go to the pair that comes first by spelling, so the same words
    always give the same vocabulary (Hugging Face's trainer breaks ties in the order of a hash
    table, which changes from run to run).
    """
    spelled = [[word[0], *(prefix + letter for letter in word[1:])] for word in words]
    counts = list(words.values())
    vocabulary = list(specials)
    vocabulary += sorted({piece for pieces in spelled for piece in pieces} - set(specials))
    pair_counts: Counter = Counter()
    where: dict[tuple[str, str], set[int]] = defaultdict(set)  # pair -> words that hold it
    for index, pieces in enumerate(spelled):
        for pair in pairwise(pieces):
            pair_counts[pair] += counts[index]
            where[pair].add(index)
    queue = [(-count, *pair) for pair, count in pair_counts.items()]
    heapq.heapify(queue)
    known = set(vocabulary)
    while len(vocabulary) < vocab_size and queue:
        negative_count, first, second = heapq.heappop(queue)
        pair = (first, second)
        if pair_counts.get(pair, 0) != -negative_count:  # counted before a merge changed it
            continue
        merged = first + second.removeprefix(prefix)
        if merged not in known:
            vocabulary.append(merged)
            known.add(merged)
        for index in sorted(where.pop(pair)):
            before = spelled[index]
            after = _merge_pair(before, pair, merged)
            old_pairs, new_pairs = Counter(pairwise(before)), Counter(pairwise(after))
            for changed in old_pairs.keys() | new_pairs.keys():
                difference = new_pairs[changed] - old_pairs[changed]
                if difference == 0:
                    continue
                pair_counts[changed] += difference * counts[index]
                if new_pairs[changed]:
                    where[changed].add(index)
                elif changed != pair:
                    where[changed].discard(index)
                if pair_counts[changed] > 0 and changed != pair:
                    heapq.heappush(queue, (-pair_counts[changed], *changed))
            spelled[index] = after
        del pair_counts[pair]
    return vocabulary


def _merge_pair(pieces: list[str], pair: tuple[str, str], merged: str) -> list[str]:
    """`pieces` with every occurrence of `pair`, left to right, replaced by `merged`."""
    result, position = [], 0
    while position < len(pieces):
        if position + 1 < len(pieces) and (pieces[position], pieces[position + 1]) == pair:
            result.append(merged)
            position += 2
        else:
            result.append(pieces[position])
            position += 1
    return result


# --- the two pretraining tasks: masked words and next sentences ------------------------------


def mask_tokens(
    ids: torch.Tensor,
    special: torch.Tensor,
    mask_id: int,
    vocab_size: int,
    generator: torch.Generator,
    rate: float = 0.15,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masking for MLM. ids (batch, seq); special (batch, seq) bool, True at [CLS], [SEP]
    and [PAD], which are never chosen. Each other token is chosen with probability `rate`; a
    chosen token becomes [MASK] 80% of the time, a random token 10%, and stays itself 10%.
    Returns (inputs (batch, seq), labels (batch, seq)): labels hold the original id at chosen
    positions and IGNORE_INDEX (-100) elsewhere. Random draws come from `generator`, in this order:
    choose, then [MASK] or not, then random or not, then the random tokens."""
    chosen = (torch.rand(ids.shape, generator=generator) < rate) & ~special
    labels = torch.where(chosen, ids, torch.full_like(ids, IGNORE_INDEX))
    to_mask = chosen & (torch.rand(ids.shape, generator=generator) < 0.8)
    to_random = chosen & ~to_mask & (torch.rand(ids.shape, generator=generator) < 0.5)
    random_tokens = torch.randint(vocab_size, ids.shape, generator=generator)
    inputs = torch.where(to_mask, torch.full_like(ids, mask_id), ids)
    inputs = torch.where(to_random, random_tokens, inputs)
    return inputs, labels


def nsp_pair(
    documents: list[list[str]], document: int, sentence: int, rng: random.Random
) -> tuple[str, str, int]:
    """One next-sentence-prediction example from sentence `sentence` of document `document`
    (which must have a sentence after it): (sentence A, sentence B, label). With probability 1/2,
    B is the sentence that follows A (label 0, "is next"); otherwise B is a random sentence of
    another, randomly chosen, document (label 1, "not next")."""
    if len(documents) < 2:
        raise ValueError("NSP needs at least two documents (a random B comes from another one)")
    if not 0 <= sentence < len(documents[document]) - 1:
        raise ValueError(
            f"sentence {sentence} of document {document} has no next sentence (the document has "
            f"{len(documents[document])})"
        )
    first = documents[document][sentence]
    if rng.random() < 0.5:
        return first, documents[document][sentence + 1], 0
    other = rng.choice([index for index in range(len(documents)) if index != document])
    return first, rng.choice(documents[other]), 1


class PretrainingBatch(NamedTuple):
    """inputs, segments, labels (batch, seq) long; padding (batch, seq) bool (True = real);
    is_random (batch,) long: the NSP label, 1 when sentence B is a random sentence."""

    inputs: torch.Tensor
    segments: torch.Tensor
    padding: torch.Tensor
    labels: torch.Tensor
    is_random: torch.Tensor


def nsp_examples(corpus: PretrainingCorpus, split: str, seed: int) -> list[tuple[str, str, int]]:
    """One NSP example (`nsp_pair`) per sentence that has a next one in its document. Pairs
    are drawn within each source (Wikipedia, news): a random sentence B then comes from another
    document of the same source, so that "B is from the other source" can't give the answer
    away (it would: most sentences are Wikipedia's, most documents the news')."""
    rng = random.Random(seed)
    examples = []
    for source in ("wikipedia", "lee"):
        documents = corpus.sentences(split, source)
        examples += [
            nsp_pair(documents, document, sentence, rng)
            for document, sentences in enumerate(documents)
            for sentence in range(len(sentences) - 1)
        ]
    return examples


def encode_pair(tokenizer, first: str, second: str) -> tuple[list[int], list[int]]:
    """BERT's input for a sentence pair, built by hand: ids of [CLS] first [SEP] second [SEP]
    (each sentence's word pieces from `tokenizer`, without special tokens) and the segment ids, 0
    up to and including the first [SEP], 1 after it. Equal to `tokenizer.encode(first, second)`'s
    `ids` and `type_ids` for a BERT tokenizer."""
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    a = tokenizer.encode(first, add_special_tokens=False).ids
    b = tokenizer.encode(second, add_special_tokens=False).ids
    ids = [cls_id, *a, sep_id, *b, sep_id]
    return ids, [0] * (len(a) + 2) + [1] * (len(b) + 1)


def encode_with_truncation(tokenizer, inputs: list, max_len: int) -> list:
    """`tokenizer.encode_batch(inputs)` without padding and cut to `max_len` tokens (the longer
    sentence of a pair first), leaving the tokenizer's own settings as they were."""
    padding_setting, truncation_setting = tokenizer.padding, tokenizer.truncation
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=max_len, strategy="longest_first")
    try:
        return tokenizer.encode_batch(inputs)
    finally:
        tokenizer.no_truncation()
        if truncation_setting:
            tokenizer.enable_truncation(**truncation_setting)
        if padding_setting:
            tokenizer.enable_padding(**padding_setting)


def encode_pairs(corpus: PretrainingCorpus, examples, max_len: int = 64):
    """Token ids, segment ids and NSP labels of (A, B, label) examples, each pair cut to
    `max_len` tokens (the longer sentence is shortened first)."""
    pairs = [(a, b) for a, b, _ in examples]
    encodings = encode_with_truncation(corpus.tokenizer, pairs, max_len)
    return [
        (e.ids, e.type_ids, label) for e, (_, _, label) in zip(encodings, examples, strict=True)
    ]


def pretraining_batches(
    encoded, batch_size: int, generator: torch.Generator, vocab_size: int, shuffle: bool = True
):
    """`PretrainingBatch`es over `encoded` (from `encode_pairs`), masked with `mask_tokens`
    afresh each time (dynamic masking, as RoBERTa does), drawing from `generator`."""
    order = (
        torch.randperm(len(encoded), generator=generator).tolist()
        if shuffle
        else list(range(len(encoded)))
    )
    for start in range(0, len(order), batch_size):
        rows = [encoded[i] for i in order[start : start + batch_size]]
        ids = pad([token_ids for token_ids, _, _ in rows], PAD_ID)
        segments = pad([segment_ids for _, segment_ids, _ in rows], 0)
        special = (ids == PAD_ID) | (ids == CLS_ID) | (ids == SEP_ID)
        inputs, labels = mask_tokens(ids, special, MASK_ID, vocab_size, generator)
        yield PretrainingBatch(
            inputs, segments, ids != PAD_ID, labels, torch.tensor([label for *_, label in rows])
        )


class PretrainingBatches:
    """Re-iterable pretraining batches over `encoded` pairs (from `encode_pairs`): a new shuffle
    and a new masking each pass, drawn from their own generator seeded with `seed`."""

    def __init__(self, encoded, batch_size: int, vocab_size: int, seed: int):
        self.encoded, self.batch_size, self.vocab_size = encoded, batch_size, vocab_size
        self.generator = torch.Generator().manual_seed(seed)

    def __iter__(self):
        return pretraining_batches(
            self.encoded, self.batch_size, self.generator, vocab_size=self.vocab_size
        )

    def __len__(self):
        return -(-len(self.encoded) // self.batch_size)


def validation_batches(corpus, max_len: int = 64, batch_size: int = 256) -> list:
    """The validation documents' NSP pairs, masked once with a fixed seed (so that accuracy is
    comparable from one evaluation to the next)."""
    encoded = encode_pairs(corpus, nsp_examples(corpus, "validation", seed=1), max_len)
    generator = torch.Generator().manual_seed(1)
    return list(
        pretraining_batches(
            encoded, batch_size, generator, shuffle=False, vocab_size=corpus.vocab_size
        )
    )


def hidden_answers(batch: PretrainingBatch) -> torch.Tensor:
    """(batch, seq) bool: where the answer is hidden, the chosen positions whose input is [MASK].
    (At the 10% of chosen positions left unchanged the input shows the answer, so accuracy there
    means little.)"""
    return (batch.labels != IGNORE_INDEX) & (batch.inputs == MASK_ID)


def hidden_answer_labels(batches) -> list[int]:
    """The token ids hidden behind [MASK] in `batches`: what the MLM baseline is scored on."""
    return torch.cat([batch.labels[hidden_answers(batch)] for batch in batches]).tolist()


# --- the sentiment task, for fine-tuning ---------------------------------------------------------


def load_polarity() -> tuple[list[str], list[int], list[int]]:
    """The 200 labelled review sentences: (texts, labels (0 negative, 1 positive), fold of each
    sentence (0-4, 20 of each label per fold))."""
    # the file is Windows-1252 (its dashes are byte 0x97)
    lines = gensim_test_data(POLARITY).read_text(encoding="cp1252", errors="replace").splitlines()
    texts, labels = [], []
    for line in lines:
        tag, _, text = line.partition(" ")
        if tag in ("__label__neg", "__label__pos"):
            texts.append(text.strip())
            labels.append(int(tag == "__label__pos"))
    folds = [0] * len(texts)
    rng = random.Random(0)
    for label in (0, 1):
        members = [i for i, y in enumerate(labels) if y == label]
        rng.shuffle(members)
        for position, index in enumerate(members):
            folds[index] = position % 5
    return texts, labels, folds


def encode_sentences(tokenizer, sentences: list[str], max_len: int = 64):
    """ids (n, seq) and padding (n, seq) for single sentences: [CLS] sentence [SEP] [PAD]...,
    each cut to `max_len` tokens, padded on the right with id 0 (BERT's [PAD]). The tokenizer's
    own padding and truncation settings are put back afterwards."""
    encodings = encode_with_truncation(tokenizer, sentences, max_len)
    ids = pad([encoding.ids for encoding in encodings], 0)
    return ids, ids != 0


class ClassificationBatch(NamedTuple):
    """ids (batch, seq) long, padding (batch, seq) bool (True = real token), labels (batch,)."""

    ids: torch.Tensor
    padding: torch.Tensor
    labels: torch.Tensor


def trimmed(ids: torch.Tensor, padding: torch.Tensor, rows: torch.Tensor):
    """The rows' ids and padding without the columns that are padding in every one of them."""
    width = int(padding[rows].sum(1).max())
    return ids[rows, :width], padding[rows, :width]


class ClassificationBatches:
    """Re-iterable `ClassificationBatch`es of the examples `rows` of (ids, padding, labels):
    shuffled anew each pass with torch's global generator, `batch_size` at a time."""

    def __init__(self, ids, padding, labels: torch.Tensor, rows: torch.Tensor, batch_size: int):
        self.ids, self.padding, self.labels = ids, padding, labels
        self.rows, self.batch_size = rows, batch_size

    def __iter__(self):
        for rows in self.rows[torch.randperm(len(self.rows))].split(self.batch_size):
            yield ClassificationBatch(*trimmed(self.ids, self.padding, rows), self.labels[rows])

    def __len__(self):
        return -(-len(self.rows) // self.batch_size)
