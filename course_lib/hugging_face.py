"""The Hugging Face stack (notebook 08): helpers around `transformers`, `tokenizers` and `datasets`.

The notebook uses the libraries' own APIs; this module holds the one piece learners write
themselves (`collate`, the reference for the graded exercise) and small conveniences.

Shapes: a batch is a dict of tensors: input_ids and attention_mask (batch, seq) long, labels
(batch,) long, padded on the right to the longest example of the batch.
"""

from __future__ import annotations

import torch


def collate(examples: list[dict], pad_id: int) -> dict[str, torch.Tensor]:
    """Examples {"input_ids": [ids...], "label": int} -> a batch {"input_ids", "attention_mask",
    "labels"}: ids padded on the right with `pad_id` to the batch's longest example, attention
    mask 1 at real tokens and 0 at padding, as `transformers` models expect."""
    longest = max(len(example["input_ids"]) for example in examples)
    input_ids = torch.full((len(examples), longest), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(examples), longest), dtype=torch.long)
    for row, example in enumerate(examples):
        length = len(example["input_ids"])
        input_ids[row, :length] = torch.tensor(example["input_ids"])
        attention_mask[row, :length] = 1
    labels = torch.tensor([example["label"] for example in examples], dtype=torch.long)
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}


def accuracy_metric(prediction) -> dict[str, float]:
    """`Trainer`'s compute_metrics: accuracy of the argmax of the logits."""
    predicted = prediction.predictions.argmax(-1)
    return {"accuracy": float((predicted == prediction.label_ids).mean())}
