"""The Hugging Face stack (notebook 08): the one piece learners write themselves around
`transformers`, `tokenizers` and `datasets`, `collate` (the reference of the graded exercise).
Trainer's accuracy metric is `metrics.trainer_accuracy`.

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
