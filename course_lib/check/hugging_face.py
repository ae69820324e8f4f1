"""Checks for notebook 08 (the Hugging Face stack): collating tokenised examples into a batch."""

from __future__ import annotations

import copy

import torch

from .. import hugging_face as reference
from .framework import CheckFailed, passed, require_function

SIGNATURE = "collate(examples, pad_id)"
KEYS = ("input_ids", "attention_mask", "labels")


def _cases() -> list[tuple[list[dict], int]]:
    return [
        (
            [{"input_ids": [101, 7, 8, 102], "label": 1}, {"input_ids": [101, 9, 102], "label": 0}],
            0,
        ),
        ([{"input_ids": [5, 6], "label": 0}], 0),
        (
            [
                {"input_ids": [2, 11, 12, 13, 3], "label": 1},
                {"input_ids": [2, 14, 3], "label": 1},
                {"input_ids": [2, 15, 16, 3], "label": 0},
            ],
            7,  # a pad id other than 0
        ),
    ]


def _describe(examples, pad_id) -> str:
    lengths = [len(example["input_ids"]) for example in examples]
    return f"collate({len(examples)} examples of lengths {lengths}, pad_id={pad_id})"


def _hint(name: str, got: torch.Tensor, expected: torch.Tensor, pad_id: int) -> str:
    if got.shape != expected.shape:
        if name != "labels" and got.shape[0] == expected.shape[0]:
            return (
                f"{name} has {got.shape[1]} columns; pad to the longest example of the batch "
                f"({expected.shape[1]}), not to a fixed length"
            )
        return f"{name} has shape {tuple(got.shape)}, expected {tuple(expected.shape)}"
    if name == "input_ids":
        left = _left_padded(expected, pad_id)
        if torch.equal(got, left):
            return "input_ids are padded on the left: pad on the right (after the tokens)"
        if pad_id != 0 and torch.equal(got, torch.where(expected == pad_id, 0, expected)):
            return f"padding uses 0: use the pad_id argument ({pad_id})"
    if name == "attention_mask":
        if torch.equal(got, 1 - expected):
            return "the attention mask is inverted: 1 at real tokens, 0 at padding"
        if torch.equal(got, expected.flip(-1)):
            return "the attention mask marks the left end: real tokens are on the left"
    return f"{name} differs from the expected batch:\n{got.tolist()}\nexpected\n{expected.tolist()}"


def _left_padded(expected_ids: torch.Tensor, pad_id: int) -> torch.Tensor:
    rows = []
    for row in expected_ids.tolist():
        tokens = [t for t in row if t != pad_id] if pad_id in row else row
        rows.append([pad_id] * (len(row) - len(tokens)) + tokens)
    return torch.tensor(rows)


def collate(learner_fn) -> None:
    """Check `collate(examples, pad_id) -> {"input_ids", "attention_mask", "labels"}`."""
    fn = require_function(learner_fn, "collate")
    cases = _cases()
    for examples, pad_id in cases:
        where = _describe(examples, pad_id)
        original = copy.deepcopy(examples)
        try:
            batch = fn(copy.deepcopy(examples), pad_id)
        except NotImplementedError:
            raise CheckFailed(
                "collate is not implemented yet: replace `raise NotImplementedError()` with your "
                "code"
            ) from None
        except Exception as error:  # the learner's code may raise anything; report it plainly
            raise CheckFailed(
                f"{where} raised {type(error).__name__}: {error}. Keep the signature {SIGNATURE}."
            ) from error
        expected = reference.collate(original, pad_id)
        if not isinstance(batch, dict):
            raise CheckFailed(
                f"{where} should return a dict with keys {KEYS}, got a {type(batch).__name__}"
            )
        missing = [key for key in KEYS if key not in batch]
        if missing:
            extra = " (transformers models want 'labels', plural)" if "label" in batch else ""
            raise CheckFailed(f"{where} returned no {missing}{extra}")
        for key in KEYS:
            value = batch[key]
            if not isinstance(value, torch.Tensor):
                raise CheckFailed(
                    f"{where}: {key} should be a torch tensor, got {type(value).__name__}"
                )
            if value.dtype != torch.long:
                raise CheckFailed(
                    f"{where}: {key} should hold integers (torch.long), got {value.dtype}"
                    + (": use .long() on a boolean mask" if value.dtype == torch.bool else "")
                )
            if value.shape != expected[key].shape or not torch.equal(value, expected[key]):
                raise CheckFailed(f"{where}: {_hint(key, value, expected[key], pad_id)}")
    passed("collate", f"correct on {len(cases)} batches (right padding, mask, labels)")
