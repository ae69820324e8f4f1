"""Text for BERT (notebook 06): a small pretraining corpus, a WordPiece tokenizer, NSP/MLM batches,
and a labelled sentiment task for fine-tuning.

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
- **Tokenizer**: WordPiece, 8,000 tokens, lower-cased, trained on the train documents with
  Hugging Face `tokenizers`; special tokens [PAD] (id 0), [UNK], [CLS], [SEP], [MASK].

Dataset card: sentiment task
----------------------------
- **Source**: `pang_lee_polarity.cor` in gensim's test data: 200 sentences of movie reviews (100
  negative, 100 positive), a sample of the sentence polarity dataset v1.0 of Pang and Lee (2005),
  which its authors released for research use; gensim (LGPL-2.1) ships it for its tests.
- **Folds**: 5 fixed folds of 40 sentences (20 of each label), for cross-validation: with 200
  examples one split's accuracy moves by several points with the split, so results are reported
  as mean ± standard deviation over the folds.

Built in a few seconds on first use, then read from the course cache.
"""

from __future__ import annotations

import bz2
import hashlib
import json
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch

from .bert import mask_tokens, nsp_pair
from .paths import cache_dir, require

SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
PAD_ID, UNK_ID, CLS_ID, SEP_ID, MASK_ID = range(5)
WIKIPEDIA = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
LEE = "lee_background.cor"
POLARITY = "pang_lee_polarity.cor"
CORPUS_VERSION = 1


def gensim_test_data(name: str) -> Path:
    """The path of a file in gensim's bundled test data."""
    gensim = require("gensim", "gensim==4.4.0")
    path = Path(gensim.__file__).parent / "test" / "test_data" / name
    if not path.exists():
        raise FileNotFoundError(f"{name} is missing from gensim's test data ({path.parent})")
    return path


def split_sentences(paragraph: str) -> list[str]:
    """Sentences of a paragraph: cut after . ! or ? when a space and a capital (or a quote)
    follow. Simple and imperfect (abbreviations such as "Dr. Smith" are cut)."""
    parts = re.split(r"(?<=[.!?])\s+(?=[A-Z\"'(])", paragraph.strip())
    return [part.strip() for part in parts if len(part.split()) >= 3]


def _wikipedia_documents() -> list[dict]:
    from gensim.corpora.wikicorpus import extract_pages, filter_wiki

    documents = []
    with bz2.open(gensim_test_data(WIKIPEDIA)) as file:
        for title, text, _ in extract_pages(file, filter_namespaces=("0",)):
            if text.lstrip().upper().startswith("#REDIRECT"):
                continue
            clean = filter_wiki(text).replace("'''", "").replace("''", "")
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


@dataclass
class PretrainingCorpus:
    """Documents (each a list of paragraphs, each a list of sentences) per split, and the
    WordPiece tokenizer (`tokenizers.Tokenizer`; encode(a, b) gives [CLS] a [SEP] b [SEP] with
    segment ids in `type_ids`)."""

    splits: dict  # "train" / "validation" -> list of {"source", "title", "paragraphs"}
    tokenizer: object

    def sentences(self, split: str) -> list[list[str]]:
        """Each document of `split` as one list of its sentences, in order."""
        if split not in self.splits:
            raise KeyError(f"unknown split {split!r}; the splits are train, validation")
        return [
            [sentence for paragraph in document["paragraphs"] for sentence in paragraph]
            for document in self.splits[split]
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
    tokenizers = require("tokenizers", "tokenizers==0.23.3")
    settings = {"version": CORPUS_VERSION, "vocab_size": vocab_size}
    digest = hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]
    folder = cache_dir() / f"pretraining-corpus-{digest}"
    if not (folder / "tokenizer.json").exists():
        documents = _wikipedia_documents() + _lee_documents()
        splits = {"train": [], "validation": []}
        for document in documents:
            bucket = int(hashlib.sha1(document["title"].encode()).hexdigest(), 16) % 10
            splits["validation" if bucket == 0 else "train"].append(document)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "documents.json").write_text(json.dumps(splits))
        texts = [
            sentence
            for document in splits["train"]
            for paragraph in document["paragraphs"]
            for sentence in paragraph
        ]
        _train_wordpiece(texts, vocab_size, tokenizers).save(str(folder / "tokenizer.json"))
    splits = json.loads((folder / "documents.json").read_text())
    tokenizer = tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json"))
    return PretrainingCorpus(splits, tokenizer)


def _train_wordpiece(texts, vocab_size: int, tokenizers):
    from tokenizers import decoders, models, normalizers, pre_tokenizers, processors, trainers

    tokenizer = tokenizers.Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, special_tokens=list(SPECIALS), show_progress=False
    )
    tokenizer.train_from_iterator(texts, trainer)
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", CLS_ID), ("[SEP]", SEP_ID)],
    )
    return tokenizer


class PretrainingBatch(NamedTuple):
    """inputs, segments, labels (batch, seq) long; padding (batch, seq) bool (True = real);
    is_random (batch,) long: the NSP label, 1 when sentence B is a random sentence."""

    inputs: torch.Tensor
    segments: torch.Tensor
    padding: torch.Tensor
    labels: torch.Tensor
    is_random: torch.Tensor


def nsp_examples(corpus: PretrainingCorpus, split: str, seed: int) -> list[tuple[str, str, int]]:
    """One NSP example (`bert.nsp_pair`) per sentence that has a next one in its document. Pairs
    are drawn within each source (Wikipedia, news): a random sentence B then comes from another
    document of the same source, so that "B is from the other source" can't give the answer
    away (it would: most sentences are Wikipedia's, most documents the news')."""
    rng = random.Random(seed)
    examples = []
    for source in ("wikipedia", "lee"):
        documents = [
            [sentence for paragraph in document["paragraphs"] for sentence in paragraph]
            for document in corpus.splits[split]
            if document["source"] == source
        ]
        examples += [
            nsp_pair(documents, document, sentence, rng)
            for document, sentences in enumerate(documents)
            for sentence in range(len(sentences) - 1)
        ]
    return examples


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
        longest = max(len(ids) for ids, _, _ in rows)
        ids = torch.full((len(rows), longest), PAD_ID, dtype=torch.long)
        segments = torch.zeros_like(ids)
        for row, (token_ids, segment_ids, _) in enumerate(rows):
            ids[row, : len(token_ids)] = torch.tensor(token_ids)
            segments[row, : len(segment_ids)] = torch.tensor(segment_ids)
        special = (ids == PAD_ID) | (ids == CLS_ID) | (ids == SEP_ID)
        inputs, labels = mask_tokens(ids, special, MASK_ID, vocab_size, generator)
        yield PretrainingBatch(
            inputs, segments, ids != PAD_ID, labels, torch.tensor([label for *_, label in rows])
        )


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
