"""The Hugging Face stack (notebook 08): the pieces learners write themselves around
`transformers`, `tokenizers` and `datasets` (the references of the graded exercises): `collate`
and `tokenize_pairs`. Trainer's metrics are `metrics.trainer_metrics`.

Shapes: a batch is a dict of tensors: input_ids and attention_mask (batch, seq) long, labels
(batch,) long, padded on the right to the longest example of the batch.
"""

from __future__ import annotations

import torch

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
