"""Every score the course reports, and the trivial baselines each one is printed beside.

Scales: `accuracy` / `exact_match`, `pearson` and `majority_share` are fractions (0 to 1, Pearson
-1 to 1); BLEU and ROUGE are on 0 to 100, as they are usually reported. A notebook multiplies by
100 where it prints percentages.

    metric           used for                                       trivial baseline
    exact match      translation (01-04, 07), closed-book questions  copy the input
                     (07)                                            (`copy_baseline`), the most
                                                                     frequent answer
                                                                     (`most_common`)
    BLEU             translation (01-04)
    ROUGE-1/2/L      summarisation (05, 07)                          the first words
                                                                     (`first_words`)
    accuracy         facts filled in and pairs checked (06),         the most frequent label
                     sentiment (06b, 08), topic (07)                 (`majority_share`)
    F1 (positive)    sentiment with `Trainer` (08)
    Pearson          word similarity (07)                            the mean score (a constant:
                                                                     0)

`value_within_seconds` reads a learning curve at a time budget (notebook 04b's equal-time
comparison).
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Hashable, Iterable, Sequence

import torch

from . import packages

sacrebleu = packages.lazy("sacrebleu", "sacrebleu==2.6.0")
rouge_scorer = packages.lazy("rouge_score.rouge_scorer", "rouge-score==0.1.2")


def accuracy(predictions: Sequence, references: Sequence) -> float:
    """The share (0-1) of predictions equal to their reference (0 when there are none)."""
    pairs = list(zip(predictions, references, strict=True))
    return sum(prediction == reference for prediction, reference in pairs) / max(len(pairs), 1)


# For whole sequences (a translation as a token list, an answer as text) the same share is called
# exact match: one wrong token makes the whole answer wrong.
exact_match = accuracy


def bleu(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Corpus BLEU (0-100, sacrebleu's default tokenisation) of detokenised sentences, one
    reference each."""
    return sacrebleu.corpus_bleu(list(hypotheses), [list(references)]).score


def rouge(predictions: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """Mean ROUGE-1, ROUGE-2 and ROUGE-L F1 (0-100) of `rouge-score`, with stemming: word
    overlap, pair-of-words overlap and longest common subsequence with the references."""
    names = ("rouge1", "rouge2", "rougeL")
    scorer = rouge_scorer.RougeScorer(list(names), use_stemmer=True)
    totals = dict.fromkeys(names, 0.0)
    for prediction, reference in zip(predictions, references, strict=True):
        scores = scorer.score(reference, prediction)
        for name in names:
            totals[name] += scores[name].fmeasure
    return {name: 100 * total / max(len(references), 1) for name, total in totals.items()}


def pearson(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Pearson correlation; 0 when either side is constant (it predicts nothing)."""
    n = len(xs)
    if n < 2 or min(xs) == max(xs) or min(ys) == max(ys):
        return 0.0
    mean_x, mean_y = sum(xs) / n, sum(ys) / n
    cov = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    var_x = sum((x - mean_x) ** 2 for x in xs)
    var_y = sum((y - mean_y) ** 2 for y in ys)
    return cov / (var_x * var_y) ** 0.5


def mean_and_std(values: Sequence[float]) -> str:
    """Fractions (accuracies over folds or seeds) as "72.5 ± 3.9%": the mean and the sample
    standard deviation (0 for a single value)."""
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * statistics.mean(values):.1f} ± {100 * spread:.1f}%"


def trainer_metrics(prediction) -> dict[str, float]:
    """Accuracy and F1 of the positive class (label 1), as `transformers.Trainer`'s
    `compute_metrics` wants them: from an EvalPrediction (logits (N, classes) in `predictions`,
    or a tuple whose first item they are; labels (N,) in `label_ids`) to {"accuracy": share,
    "f1": share}, Python floats. F1 is 0 when nothing is predicted positive and there are no
    positives (no correct positive prediction)."""
    logits = prediction.predictions
    if isinstance(logits, tuple):  # models that return more than logits
        logits = logits[0]
    predicted, labels = logits.argmax(-1), prediction.label_ids
    true_positives = int(((predicted == 1) & (labels == 1)).sum())
    predicted_positives, positives = int((predicted == 1).sum()), int((labels == 1).sum())
    f1 = 2 * true_positives / (predicted_positives + positives) if true_positives else 0.0
    return {"accuracy": float((predicted == labels).mean()), "f1": float(f1)}


# --- trivial baselines ------------------------------------------------------------------------


def copy_baseline(sources: Sequence, targets: Sequence) -> float:
    """Exact match (0-1) of answering each source with itself: translation's trivial baseline."""
    return exact_match(sources, targets)


def first_words(text: str, count: int) -> str:
    """The summarisation baseline: the article's first `count` words."""
    return " ".join(text.split()[:count])


def most_common(values: Iterable[Hashable]):
    """The most frequent value (the first one seen among equally frequent ones)."""
    return Counter(values).most_common(1)[0][0]


def majority_share(labels: Sequence[Hashable]) -> float:
    """Accuracy (0-1) of always answering the most frequent label."""
    return Counter(labels).most_common(1)[0][1] / len(labels) if labels else 0.0


def value_within_seconds(
    steps: torch.Tensor, values: torch.Tensor, ms_per_step: float, seconds: float
) -> torch.Tensor:
    """A learning curve read at a time budget (notebook 04b): steps (n,), the increasing steps at
    which a run was evaluated; values (n,) float, the metric there. Returns, as a 0-dim tensor,
    the value of the last evaluation whose step had finished within `seconds` of training, at
    `ms_per_step` milliseconds a step (step * ms_per_step / 1000 <= seconds), or 0 if none had."""
    within = steps * ms_per_step / 1000 <= seconds  # (n,) bool
    if not within.any():
        return values.new_zeros(())
    return values[within][-1]
