"""Notebook 08: the collate exercise (reference equals transformers' DataCollatorWithPadding; its
checker names planted mistakes)."""

import pytest
import torch
import transformers

from course_lib import check
from course_lib.hugging_face import collate
from course_lib.packages import minilm_folder


def test_collate_matches_data_collator_with_padding():
    tokenizer = transformers.AutoTokenizer.from_pretrained(minilm_folder())
    examples = [
        {"input_ids": tokenizer(text)["input_ids"], "label": label}
        for text, label in [("A gripping film.", 1), ("Dull.", 0), ("It never works at all.", 0)]
    ]
    theirs = transformers.DataCollatorWithPadding(tokenizer)(examples)
    ours = collate(examples, tokenizer.pad_token_id)
    for key in ("input_ids", "attention_mask", "labels"):
        assert torch.equal(ours[key], theirs[key])


def _changed(change):
    def wrong(examples, pad_id):
        return change(collate(examples, pad_id), examples, pad_id)

    return wrong


def _left(batch, examples, pad_id):
    width = batch["input_ids"].shape[1]
    ids = [[pad_id] * (width - len(e["input_ids"])) + e["input_ids"] for e in examples]
    mask = [[0] * (width - len(e["input_ids"])) + [1] * len(e["input_ids"]) for e in examples]
    return {
        "input_ids": torch.tensor(ids),
        "attention_mask": torch.tensor(mask),
        "labels": batch["labels"],
    }


@pytest.mark.parametrize(
    "wrong, message",
    [
        (_changed(_left), "padded on the left"),
        (lambda examples, pad_id: collate(examples, 0), "use the pad_id argument"),
        (_changed(lambda b, e, p: {**b, "attention_mask": 1 - b["attention_mask"]}), "inverted"),
        (_changed(lambda b, e, p: {**b, "attention_mask": b["attention_mask"].bool()}), ".long()"),
        (
            _changed(
                lambda b, e, p: {
                    **b,
                    "input_ids": torch.nn.functional.pad(b["input_ids"], (0, 3), value=p),
                }
            ),
            "not to a fixed length",
        ),
        (
            _changed(
                lambda b, e, p: {
                    "input_ids": b["input_ids"],
                    "attention_mask": b["attention_mask"],
                    "label": b["labels"],
                }
            ),
            "'labels', plural",
        ),
        (lambda examples, pad_id: [e["input_ids"] for e in examples], "should return a dict"),
    ],
    ids=[
        "left-padding",
        "zero-padding",
        "inverted-mask",
        "bool-mask",
        "fixed-length",
        "label-key",
        "not-a-dict",
    ],
)
def test_collate_mistakes_are_named(wrong, message):
    with pytest.raises(check.CheckFailed) as failure:
        check.collate(wrong)
    assert message in str(failure.value)


def test_reference_collate_passes(capsys):
    check.collate(collate)
    assert capsys.readouterr().out.startswith("✅ collate")
