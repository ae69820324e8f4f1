"""Translators (notebooks 01 to 04): the interface every translation model of the course has, the
loss they are trained with, decoding a whole split, and the report of a test run.

A translator (`Translator`) is any model with `forward(source, source_lengths, target_input) ->
logits` and `greedy_decode(source, source_lengths, max_len, bos_id, eos_id) -> ids`: the GRU
encoder-decoder of notebook 01, the attention translators of notebooks 02 and 03 and the
Transformer of notebook 04 all are, so one loss, one decoding loop, one report and one training
recipe (`training.TRANSLATION_RECIPE`) serve them all, and their results compare fairly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Protocol, runtime_checkable

import torch
import torch.nn.functional as F

from . import metrics
from .training import (
    TRANSLATION_RECIPE,
    History,
    adjusted,
    evaluating,
    to_device,
    train,
    training_summary,
)
from .translation_data import LENGTH_BUCKETS, PAD_ID, TranslationBatch, TranslationData, detokenize


@runtime_checkable
class Translator(Protocol):
    """What every translation model of notebooks 01 to 04 offers. Shapes: source (batch,
    source_len) and target_input (batch, target_len) long, source_lengths (batch,)."""

    def forward(
        self, source: torch.Tensor, source_lengths: torch.Tensor, target_input: torch.Tensor
    ) -> torch.Tensor:
        """Teacher forcing: logits (batch, target_len, target_vocab) for every position."""
        ...

    def greedy_decode(
        self,
        source: torch.Tensor,
        source_lengths: torch.Tensor,
        max_len: int,
        bos_id: int,
        eos_id: int,
    ) -> torch.Tensor:
        """Predicted ids (batch, <= max_len), feeding back the most likely token each step."""
        ...


def translation_loss(
    model: Translator, batch: TranslationBatch, label_smoothing: float = 0.0
) -> torch.Tensor:
    """Mean cross-entropy over the real (non-padding) target tokens, with teacher forcing.

    `label_smoothing` moves that share of the target probability onto the other tokens
    (notebook 04), so the model is not pushed towards infinitely confident logits.
    """
    logits = model(batch.source, batch.source_lengths, batch.target_input)  # (B, T, V)
    return F.cross_entropy(
        logits.flatten(0, 1),
        batch.target_output.flatten(),
        ignore_index=PAD_ID,
        label_smoothing=label_smoothing,
    )


def bucket_label(low: int, high: int) -> str:
    return f"{low}+" if high >= 1000 else f"{low}-{high}"


@dataclass
class TranslationReport:
    """Exact-match accuracy and BLEU on one split; exact match of the number phrases per
    source-length bucket (dates, all short, are left out of the buckets) and per kind."""

    exact_match: float
    bleu: float
    by_length: dict[str, float]  # bucket label ("1-10", ..., "31+") -> exact match, numbers only
    bucket_sizes: dict[str, int]
    examples: list[tuple[str, str, str]] = field(default_factory=list)  # source, reference, output
    training: dict = field(default_factory=dict)  # `training.training_summary`, when known
    by_kind: dict[str, float] = field(default_factory=dict)  # "number" / "date" -> exact match

    def summary(self, name: str = "model") -> str:
        buckets = ", ".join(
            f"{label}: {accuracy:.1%}" for label, accuracy in self.by_length.items()
        )
        kinds = ", ".join(f"{kind}s {accuracy:.1%}" for kind, accuracy in self.by_kind.items())
        return (
            f"{name}: exact match {self.exact_match:.1%} ({kinds}), BLEU {self.bleu:.1f}; "
            f"numbers by source length: {buckets}"
        )

    def to_dict(self, history: History | None = None) -> dict:
        """The report as JSON-able data for `machinery.results.save`, without the examples;
        with the training `history`, also how fast it trained (`training_summary`)."""
        training = training_summary(history) if history is not None else self.training
        return {**asdict(self), "examples": [], "training": training}

    @classmethod
    def from_dict(cls, data: dict) -> TranslationReport:
        return cls(**data)


def predict(
    model: Translator,
    data: TranslationData,
    split: str,
    batch_size: int = 200,
    limit: int | None = None,
    device=None,
) -> tuple[list[list[str]], list[list[str]], list[list[str]]]:
    """Greedy translations of the first `limit` sentences of `split` (all by default), in the
    split's order: (source tokens, reference tokens, predicted tokens).

    Batches hold sentences of similar length (shortest first), so that decoding stops early on
    short ones; the results are put back in the split's order.
    """
    device = device or next(model.parameters()).device
    vocab = data.target_vocab
    loader = data.loader(split, batch_size, shuffle=False, limit=limit, sort_by_length=True)
    results = []  # (source, reference, prediction) in the loader's order
    with evaluating(model):
        for batch in loader:
            batch = to_device(batch, device)
            max_len = batch.target_output.shape[1] + 5
            ids = model.greedy_decode(
                batch.source, batch.source_lengths, max_len, vocab.bos_id, vocab.eos_id
            )
            for row in range(batch.source.shape[0]):
                results.append(
                    (
                        data.source_vocab.decode(batch.source[row].tolist()),
                        vocab.decode(batch.target_output[row].tolist()),
                        vocab.decode(ids[row].tolist()),
                    )
                )
    if not results:  # an empty split, or limit=0
        return [], [], []
    in_split_order = [None] * len(results)
    for position, index in enumerate(loader.batch_sampler.fixed_order()):
        in_split_order[index] = results[position]
    sources, references, predictions = (
        list(column) for column in zip(*in_split_order, strict=True)
    )
    return sources, references, predictions


def exact_match_on(
    model: Translator,
    data: TranslationData,
    split: str = "validation",
    limit: int | None = 500,
) -> float:
    """Share of the first `limit` sentences of `split` translated exactly right (a quick metric
    for `fit`'s evaluate hook)."""
    _, references, predictions = predict(model, data, split, limit=limit)
    return metrics.exact_match(predictions, references)


def evaluate_translation(
    model: Translator, data: TranslationData, split: str = "test"
) -> TranslationReport:
    """Exact match, corpus BLEU (on detokenised text), exact match per kind, and exact match of
    the number phrases per source-length bucket."""
    sources, references, predictions = predict(model, data, split)
    correct = [r == p for r, p in zip(references, predictions, strict=True)]
    kinds = data[split]["kind"][: len(correct)]  # predict keeps the split's order
    by_kind = {}
    for kind in sorted(set(kinds), key=["number", "date"].index):
        members = [ok for ok, k in zip(correct, kinds, strict=True) if k == kind]
        by_kind[kind] = sum(members) / len(members)
    numbers = [
        (source, ok)
        for source, ok, kind in zip(sources, correct, kinds, strict=True)
        if kind == "number"
    ]
    by_length, sizes = {}, {}
    for low, high in LENGTH_BUCKETS:
        members = [ok for source, ok in numbers if low <= len(source) <= high]
        if members:
            label = bucket_label(low, high)
            by_length[label] = sum(members) / len(members)
            sizes[label] = len(members)
    bleu = metrics.bleu([detokenize(p) for p in predictions], [detokenize(r) for r in references])
    examples = [
        (detokenize(s), detokenize(r), detokenize(p))
        for s, r, p in zip(sources, references, predictions, strict=True)
    ]
    return TranslationReport(
        metrics.exact_match(predictions, references),
        bleu,
        by_length,
        sizes,
        examples,
        by_kind=by_kind,
    )


def train_translator(
    model: Translator,
    data: TranslationData,
    *,
    eval_every: int = 250,
    device=None,
    label_smoothing: float = 0.0,
    **recipe_changes,
) -> History:
    """Train a translator with `training.TRANSLATION_RECIPE` (Adam, gradient clipping, teacher
    forcing), changed by `recipe_changes` (notebook 04: steps, lr, warmup_steps), evaluating
    exact match on 500 validation sentences every `eval_every` steps. Notebook 04 also adds
    `label_smoothing`. Returns `fit`'s History."""
    recipe = adjusted(TRANSLATION_RECIPE, **recipe_changes)
    return train(
        model,
        data.loader("train", recipe["batch_size"]),
        partial(translation_loss, label_smoothing=label_smoothing),
        recipe,
        evaluate=lambda m: {"validation exact match": exact_match_on(m, data, "validation")},
        eval_every=eval_every,
        device=device,
        desc=type(model).__name__,
    )
