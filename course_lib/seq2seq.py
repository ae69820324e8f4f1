"""Training and judging translation models (notebooks 01, 02 and 04).

Any model with `forward(source, source_lengths, target_input) -> logits` and
`greedy_decode(source, source_lengths, max_len, bos_id, eos_id) -> ids` plugs in.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from .paths import require
from .training import to_device
from .translation_data import (
    LENGTH_BUCKETS,
    PAD_ID,
    TranslationBatch,
    TranslationData,
    detokenize,
)


def translation_loss(
    model: torch.nn.Module, batch: TranslationBatch, label_smoothing: float = 0.0
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
    training: dict = field(default_factory=dict)  # from `training_summary`, when saved with one
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


@torch.no_grad()
def predict(
    model: torch.nn.Module,
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
    was_training = model.training
    model.eval()
    vocab = data.target_vocab
    loader = data.loader(split, batch_size, shuffle=False, limit=limit, sort_by_length=True)
    results = []  # (source, reference, prediction) in the loader's order
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
    model.train(was_training)
    if not results:  # an empty split, or limit=0
        return [], [], []
    in_split_order = [None] * len(results)
    for position, index in enumerate(loader.batch_sampler.fixed_order()):
        in_split_order[index] = results[position]
    sources, references, predictions = (
        list(column) for column in zip(*in_split_order, strict=True)
    )
    return sources, references, predictions


def exact_match(
    model: torch.nn.Module,
    data: TranslationData,
    split: str = "validation",
    limit: int | None = 500,
) -> float:
    """Share of sentences translated exactly right (a quick metric for `fit`'s evaluate hook)."""
    _, references, predictions = predict(model, data, split, limit=limit)
    return sum(r == p for r, p in zip(references, predictions, strict=True)) / len(references)


def evaluate_translation(
    model: torch.nn.Module, data: TranslationData, split: str = "test"
) -> TranslationReport:
    """Exact match, corpus BLEU (sacrebleu, on detokenised text), exact match per kind, and
    exact match of the number phrases per source-length bucket."""
    sacrebleu = require("sacrebleu", "sacrebleu==2.6.0")
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
    hypotheses = [detokenize(p) for p in predictions]
    bleu = sacrebleu.corpus_bleu(hypotheses, [[detokenize(r) for r in references]]).score
    examples = [
        (detokenize(s), detokenize(r), detokenize(p))
        for s, r, p in zip(sources, references, predictions, strict=True)
    ]
    return TranslationReport(
        sum(correct) / len(correct), bleu, by_length, sizes, examples, by_kind=by_kind
    )


def plot_accuracy_by_length(
    reports: dict[str, TranslationReport], ax=None, title: str = "exact match by source length"
) -> plt.Axes:
    """One line per model: exact-match accuracy in each source-length bucket."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    for name, report in reports.items():
        labels = list(report.by_length)
        ax.plot(labels, [100 * report.by_length[label] for label in labels], marker="o", label=name)
    ax.set(xlabel="source length (tokens)", ylabel="exact match (%)", ylim=(-3, 103), title=title)
    ax.legend()
    return ax


# The one training recipe of the translation notebooks, so that every model gets the same budget.
TRANSLATION_RECIPE = {"steps": 1500, "batch_size": 64, "lr": 1e-3, "grad_clip": 1.0}


def train_translator(
    model: torch.nn.Module,
    data: TranslationData,
    *,
    eval_every: int = 250,
    device=None,
    label_smoothing: float = 0.0,
    schedule=None,
    **overrides,
):
    """Train a translation model with `TRANSLATION_RECIPE` (Adam, gradient clipping, teacher
    forcing), evaluating exact match on 500 validation sentences every `eval_every` steps.
    Notebook 04 adds `label_smoothing` and a learning-rate `schedule` (a function of the
    optimizer returning a scheduler, e.g. `lambda opt: warmup_schedule(opt, 200)`).
    Returns `fit`'s History."""
    from functools import partial

    from .training import fit

    unknown = set(overrides) - set(TRANSLATION_RECIPE)
    if unknown:
        raise TypeError(
            f"unknown recipe settings {sorted(unknown)}; known: {sorted(TRANSLATION_RECIPE)}"
        )
    recipe = {**TRANSLATION_RECIPE, **overrides}
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe["lr"])
    scheduler = schedule(optimizer) if schedule is not None else None
    return fit(
        model,
        data.loader("train", recipe["batch_size"]),
        optimizer=optimizer,
        scheduler=scheduler,
        loss_fn=partial(translation_loss, label_smoothing=label_smoothing),
        steps=recipe["steps"],
        grad_clip=recipe["grad_clip"],
        evaluate=lambda m: {"validation exact match": exact_match(m, data, "validation")},
        eval_every=eval_every,
        device=device,
        desc=type(model).__name__,
    )


def training_summary(
    history, metric: str = "validation exact match", threshold: float = 0.95
) -> dict:
    """Steps, seconds, milliseconds per step, and the first evaluated step (and its time) at
    which `metric` reached `threshold` (None if it never did)."""
    steps, seconds = history.steps[-1], history.seconds
    reached = [
        step for step, value in zip(*history.metric(metric), strict=True) if value >= threshold
    ]
    first = reached[0] if reached else None
    return {
        "steps": steps,
        "seconds": seconds,
        "ms_per_step": 1000 * seconds / steps,
        "threshold": threshold,
        "steps_to_threshold": first,
        "seconds_to_threshold": None if first is None else seconds * first / steps,
    }


def save_report(name: str, report: TranslationReport, history=None) -> None:
    """Keep a notebook's results (in the course cache) for a later notebook to compare with;
    with the training `history`, also how fast it trained (`training_summary`)."""
    from dataclasses import asdict

    from .paths import save_report_data

    training = training_summary(history) if history is not None else report.training
    data = {
        "recipe": TRANSLATION_RECIPE,
        "report": {**asdict(report), "examples": [], "training": training},
    }
    save_report_data(name, data)


def load_report(name: str) -> TranslationReport | None:
    """A report saved by `save_report` with today's recipe, or None if there is none."""
    from .paths import load_report_data

    data = load_report_data(name)
    if data is None or data.get("recipe") != TRANSLATION_RECIPE:
        return None
    return TranslationReport(**data["report"])
