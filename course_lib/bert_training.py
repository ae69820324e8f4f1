"""BERT's experiments (notebooks 06 and 06b): pretraining and measuring it, and fine-tuning on
small labelled tasks.

`pretrain_on_facts` runs `training.FACTS_PRETRAINING_RECIPE` (MLM alone) on the facts corpus of
`facts_data`, measuring how many held-out sentences it fills in; `fill_in` lists its top guesses;
`fine_tune_pairs` fine-tunes a fresh classifier on sentence pairs and tests it on others (notebook
06's downstream task). `pretrain` runs `training.BERT_PRETRAINING_RECIPE` (MLM + NSP) on the
Wikipedia and news corpus of `pretraining_data`, measuring MLM and NSP accuracy on the validation
documents (the script `machinery.pretrain_bert` runs it, on one or more processes).
`cross_validate` fine-tunes a fresh classifier on each fold of the sentiment task with
`training.FINE_TUNING_RECIPE` and reports the accuracy on the held-out fold (notebook 06b).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from . import facts_data, metrics
from . import pretraining_data as text
from .bert import (
    BertForPretraining,
    classification_loss,
    mlm_loss,
    pair_classification_loss,
    pretraining_loss,
)
from .data import pad
from .device import choose_device
from .training import (
    BERT_PRETRAINING_RECIPE,
    FACTS_PRETRAINING_RECIPE,
    FINE_TUNING_RECIPE,
    History,
    adjusted,
    evaluating,
    to_device,
    train,
)


def fill_in(
    model: BertForPretraining, corpus: facts_data.FactsCorpus, queries, top: int = 5
) -> list[list[str]]:
    """The model's `top` guesses, best first, for the [MASK] of each query (words with one
    [MASK], as `facts_data.fill_in_queries` makes them)."""
    device = next(model.parameters()).device
    ids = pad([corpus.encode_sentence(words) for words, _ in queries], facts_data.PAD_ID)
    ids = ids.to(device)  # (n, seq)
    hidden = ids == facts_data.MASK_ID  # (n, seq), one True per row
    with evaluating(model):
        scores, _ = model(ids, padding=ids != facts_data.PAD_ID)  # (n, seq, vocab)
    best = scores[hidden].topk(top, dim=-1).indices  # (n, top)
    return [corpus.decode(row) for row in best.tolist()]


def fill_in_accuracy(model: BertForPretraining, corpus: facts_data.FactsCorpus, queries) -> float:
    """The share of `queries` whose [MASK] the model's best guess fills with the answer."""
    guesses = fill_in(model, corpus, queries, top=1)
    return metrics.accuracy([g[0] for g in guesses], [answer for _, answer in queries])


def pretrain_on_facts(
    model: BertForPretraining,
    corpus: facts_data.FactsCorpus,
    *,
    eval_every: int = 500,
    device=None,
    seed: int = 0,
    **recipe_changes,
) -> History:
    """MLM pretraining on the facts' sentences (`facts_data.FactsBatches`: the value or the
    country masked whole, or BERT's random masking) with `training.FACTS_PRETRAINING_RECIPE`
    changed by `recipe_changes`; returns `fit`'s History with "held-out fill-in accuracy": the
    share of held-out sentences whose value it guesses."""
    recipe = adjusted(FACTS_PRETRAINING_RECIPE, **recipe_changes)
    queries = facts_data.fill_in_queries(corpus.held_out)
    return train(
        model,
        facts_data.FactsBatches(corpus, recipe["batch_size"], seed),
        mlm_loss,
        recipe,
        evaluate=lambda m: {"held-out fill-in accuracy": fill_in_accuracy(m, corpus, queries)},
        eval_every=eval_every,
        device=device,
        desc="BERT pretraining on facts",
    )


def fine_tune_pairs(
    classifier: torch.nn.Module,
    train_pairs: facts_data.PairBatch,
    test_pairs: facts_data.PairBatch,
    *,
    device=None,
    seed: int = 0,
    **recipe_changes,
) -> float:
    """Fine-tune `classifier` (scores of ids, segments, padding) on `train_pairs` with
    `training.FINE_TUNING_RECIPE` changed by `recipe_changes` (epochs and lr at least), shuffled
    from torch's generator seeded with `seed`; returns its accuracy on `test_pairs`."""
    recipe = adjusted(FINE_TUNING_RECIPE, **recipe_changes)
    device = device or choose_device()
    torch.manual_seed(seed)
    classifier = classifier.to(device)
    batches = facts_data.PairBatches(train_pairs, recipe["batch_size"])
    train(classifier, batches, pair_classification_loss, recipe, device=device, desc="fine-tuning")
    test = to_device(test_pairs, device)
    with evaluating(classifier):
        predicted = classifier(test.ids, test.segments, test.padding).argmax(-1)
    return metrics.accuracy(predicted.tolist(), test.labels.tolist())


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
    histories: list | None = None,
    **recipe_changes,
) -> list[float]:
    """For each fold: a fresh classifier from `make_classifier()`, fine-tuned with
    `training.FINE_TUNING_RECIPE` changed by `recipe_changes` (epochs and lr at least) on the
    other folds, then its accuracy on the fold. ids, padding (n, seq). Each fold's training
    `History` is appended to `histories` when a list is given (for a loss curve)."""
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
        history = train(
            model,
            batches,
            classification_loss,
            recipe,
            device=device,
            desc=f"fold {fold + 1} of {len(every_fold)}",
        )
        if histories is not None:
            histories.append(history)
        test_rows = (fold_tensor == fold).nonzero().flatten()
        test_ids, test_padding = text.trimmed(ids, padding, test_rows)
        with evaluating(model):
            predicted = model(test_ids.to(device), padding=test_padding.to(device)).argmax(-1)
        accuracies.append(metrics.accuracy(predicted.tolist(), labels_tensor[test_rows].tolist()))
    return accuracies
