"""The Hugging Face stack (notebooks 08 and 08b): the pieces learners write themselves around
`transformers`, `tokenizers` and `datasets` (the references of the graded exercises): `collate`,
`tokenize_pairs` and `MeanPoolingClassifier`. Trainer's metrics are `metrics.trainer_metrics`.

Shapes: a batch is a dict of tensors: input_ids and attention_mask (batch, seq) long, labels
(batch,) long, padded on the right to the longest example of the batch.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from . import packages
from .data import pad


def collate(examples: list[dict], pad_id: int) -> dict[str, torch.Tensor]:
    """Examples {"input_ids": [ids...], "label": int} -> a batch {"input_ids", "attention_mask",
    "labels"}: ids padded on the right with `pad_id` to the batch's longest example, attention
    mask 1 at real tokens and 0 at padding, as `transformers` models expect."""
    ids = [example["input_ids"] for example in examples]
    return {
        "input_ids": pad(ids, pad_id),
        "attention_mask": pad([[1] * len(row) for row in ids], 0),
        "labels": torch.tensor([example["label"] for example in examples], dtype=torch.long),
    }


def tokenize_pairs(batch: dict[str, list], tokenizer, max_length: int = 64) -> dict[str, list]:
    """A batch of sentence pairs {"first": [str, ...], "second": [str, ...]} (as
    `datasets.Dataset.map(..., batched=True)` passes it) -> lists of token ids per example:
    {"input_ids", "token_type_ids", "attention_mask"}, each pair encoded as [CLS] first [SEP]
    second [SEP] with segment ids 0 then 1, the longer text cut first when the pair exceeds
    `max_length` tokens, and no padding (the collator pads each batch)."""
    return dict(tokenizer(batch["first"], batch["second"], truncation=True, max_length=max_length))


class MeanPoolingClassifier(nn.Module):
    """A `transformers` encoder (e.g. `AutoModel`'s BertModel) read by mean pooling, then dropout
    and a linear layer: notebook 06b's classifier in the form `Trainer` trains.

    forward(input_ids, attention_mask (batch, seq) long, labels (batch,) or None) -> {"logits":
    (batch, num_labels)}, and "loss" (the mean cross-entropy) first when labels are given: the
    dict `Trainer` reads. The mean is over the real tokens only (attention_mask 1)."""

    def __init__(self, encoder: nn.Module, num_labels: int, dropout: float = 0.1):
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(encoder.config.hidden_size, num_labels)

    def forward(self, input_ids, attention_mask, labels=None, token_type_ids=None):
        states = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        real = attention_mask.unsqueeze(-1).to(states.dtype)  # (batch, seq, 1)
        pooled = (states * real).sum(dim=1) / real.sum(dim=1).clamp(min=1)
        logits = self.classifier(self.dropout(pooled))
        if labels is None:
            return {"logits": logits}
        return {"loss": F.cross_entropy(logits, labels), "logits": logits}


def save_word_tokenizer(vocabulary: list[str], folder) -> None:
    """A `transformers` tokenizer for a word-level vocabulary (notebook 06's facts: [PAD] [UNK]
    [CLS] [SEP] [MASK], then one entry per word), saved into `folder` beside a model, so that
    `pipeline(..., model=folder)` finds both. Words are lower-cased and split at spaces and
    punctuation, accents kept; a word outside the vocabulary becomes [UNK]."""
    transformers = packages.require("transformers", "transformers==5.24.0")
    tokenizer = transformers.BertTokenizer(
        vocab={word: index for index, word in enumerate(vocabulary)},
        do_lower_case=True,
        strip_accents=False,
    )
    tokenizer.save_pretrained(Path(folder))


def without_log_lines(trainer):
    """`trainer` with its progress bar kept but the dict of numbers it prints at every logging
    step gone (`Trainer` logs the loss every `logging_steps`, which is how a notebook gets a loss
    curve from `trainer.state.log_history`). Returns the trainer."""
    transformers = packages.require("transformers", "transformers==5.24.0")

    class ProgressBarOnly(transformers.ProgressCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            pass  # the numbers stay in state.log_history

    if trainer.pop_callback(transformers.ProgressCallback) is not None:
        trainer.add_callback(ProgressBarOnly)
    return trainer
