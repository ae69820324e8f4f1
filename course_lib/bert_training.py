"""BERT's experiments (notebooks 06 and 06b): pretraining with MLM + NSP and measuring it, and
cross-validated fine-tuning on a small labelled task.

`pretrain` runs `training.BERT_PRETRAINING_RECIPE` on the pretraining corpus, measuring MLM and NSP
accuracy on the validation documents (fixed pairs and a fixed masking, so that the curve is
comparable from one evaluation to the next). `cross_validate` fine-tunes a fresh classifier on each
fold of the sentiment task with `training.FINE_TUNING_RECIPE` and reports the accuracy on the
held-out fold.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from . import metrics
from . import pretraining_data as text
from .bert import BertForPretraining, classification_loss, pretraining_loss
from .device import choose_device
from .training import (
    BERT_PRETRAINING_RECIPE,
    FINE_TUNING_RECIPE,
    History,
    adjusted,
    evaluating,
    to_device,
    train,
)


def pretraining_accuracy(model: BertForPretraining, batches) -> dict[str, float]:
    """MLM accuracy (at the [MASK] positions) and NSP accuracy of `model` on `batches`."""
    device = next(model.parameters()).device
    words, word_answers, pairs, pair_answers = [], [], [], []
    with evaluating(model):
        for batch in batches:
            batch = to_device(batch, device)
            hidden = text.hidden_answers(batch)
            mlm_scores, nsp_scores = model(batch.inputs, batch.segments, batch.padding, hidden)
            words += mlm_scores.argmax(-1).tolist()
            word_answers += batch.labels[hidden].tolist()
            pairs += nsp_scores.argmax(-1).tolist()
            pair_answers += batch.is_random.tolist()
    return {
        "MLM accuracy": metrics.accuracy(words, word_answers),
        "NSP accuracy": metrics.accuracy(pairs, pair_answers),
    }


def pretrain(
    model: BertForPretraining,
    corpus: text.PretrainingCorpus,
    *,
    max_len: int = 64,
    eval_every: int = 100,
    device=None,
    seed: int = 0,
    **recipe_changes,
) -> History:
    """MLM + NSP pretraining with `training.BERT_PRETRAINING_RECIPE` (AdamW, warm-up, clipping),
    changed by `recipe_changes` (steps, batch_size, lr, ...); returns `fit`'s History with
    "MLM accuracy" and "NSP accuracy" on the validation documents."""
    recipe = adjusted(BERT_PRETRAINING_RECIPE, **recipe_changes)
    examples = text.nsp_examples(corpus, "train", seed=seed)
    batches = text.PretrainingBatches(
        text.encode_pairs(corpus, examples, max_len), recipe["batch_size"], corpus.vocab_size, seed
    )
    validation = text.validation_batches(corpus, max_len)
    return train(
        model,
        batches,
        pretraining_loss,
        recipe,
        evaluate=lambda m: pretraining_accuracy(m, validation),
        eval_every=eval_every,
        device=device,
        desc="BERT pretraining",
    )


def cross_validate(
    make_classifier: Callable[[], torch.nn.Module],
    ids: torch.Tensor,
    padding: torch.Tensor,
    labels: list[int],
    folds: list[int],
    *,
    device=None,
    seed: int = 0,
    **recipe_changes,
) -> list[float]:
    """For each fold: a fresh classifier from `make_classifier()`, fine-tuned with
    `training.FINE_TUNING_RECIPE` changed by `recipe_changes` (epochs and lr at least) on the
    other folds, then its accuracy on the fold. ids, padding (n, seq)."""
    recipe = adjusted(FINE_TUNING_RECIPE, **recipe_changes)
    device = device or choose_device()
    labels_tensor = torch.tensor(labels)
    fold_tensor = torch.tensor(folds)
    accuracies = []
    every_fold = sorted(set(folds))
    for fold in every_fold:
        torch.manual_seed(seed + fold)
        model = make_classifier().to(device)
        train_rows = (fold_tensor != fold).nonzero().flatten()
        batches = text.ClassificationBatches(
            ids, padding, labels_tensor, train_rows, recipe["batch_size"]
        )
        train(
            model,
            batches,
            classification_loss,
            recipe,
            device=device,
            desc=f"fold {fold + 1} of {len(every_fold)}",
        )
        test_rows = (fold_tensor == fold).nonzero().flatten()
        test_ids, test_padding = text.trimmed(ids, padding, test_rows)
        with evaluating(model):
            predicted = model(test_ids.to(device), padding=test_padding.to(device)).argmax(-1)
        accuracies.append(metrics.accuracy(predicted.tolist(), labels_tensor[test_rows].tolist()))
    return accuracies
