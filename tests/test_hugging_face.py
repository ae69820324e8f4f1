"""Notebook 08: the collate exercise (reference equals transformers' DataCollatorWithPadding; its
checker names planted mistakes)."""

import tempfile
from pathlib import Path

import datasets
import numpy as np
import pytest
import torch
import transformers

from course_lib import check
from course_lib import hugging_face as hf
from course_lib.check.hugging_face import CLASSIFIER_MISTAKES
from course_lib.hugging_face import collate
from course_lib.metrics import trainer_metrics
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


# --- compute_metrics and tokenize_pairs ---------------------------------------------------------

from course_lib.check.hugging_face import METRICS_MISTAKES, PAIR_MISTAKES  # noqa: E402
from course_lib.hugging_face import tokenize_pairs  # noqa: E402


def test_the_metrics_and_pair_references_pass(capsys):
    check.compute_metrics(trainer_metrics)
    check.tokenize_pairs(tokenize_pairs)
    out = capsys.readouterr().out
    assert "✅ compute_metrics" in out and "✅ tokenize_pairs" in out


@pytest.mark.parametrize("mistake", METRICS_MISTAKES, ids=lambda m: m.hint[:40])
def test_metrics_mistakes_get_their_hint(mistake):
    with pytest.raises(check.CheckFailed) as failure:
        check.compute_metrics(mistake.wrong_implementation)
    assert mistake.hint in str(failure.value)


def _without_tuples(prediction):
    predicted = prediction.predictions.argmax(-1)
    labels = prediction.label_ids
    hits = int(((predicted == 1) & (labels == 1)).sum())
    f1 = 2 * hits / int((predicted == 1).sum() + (labels == 1).sum()) if hits else 0.0
    return {"accuracy": float((predicted == labels).mean()), "f1": f1}


def test_metric_failures_get_advice():
    def numpy_scores(prediction):
        scores = trainer_metrics(prediction)
        return {key: np.float32(value) for key, value in scores.items()}

    with pytest.raises(check.CheckFailed, match=r"Python floats"):
        check.compute_metrics(numpy_scores)
    with pytest.raises(check.CheckFailed, match="tuple"):  # predictions given as (logits, more)
        check.compute_metrics(_without_tuples)

    def wrong_axis(prediction):
        logits = prediction.predictions
        logits = logits[0] if isinstance(logits, tuple) else logits
        return {"accuracy": float((logits.argmax(0) == prediction.label_ids).mean()), "f1": 0.0}

    with pytest.raises(check.CheckFailed, match=r"argmax\(-1\)"):
        check.compute_metrics(wrong_axis)


@pytest.mark.parametrize("numpy_division", [True, False], ids=["numpy NaN", "ZeroDivisionError"])
def test_dividing_by_zero_gets_advice(numpy_division):
    def divides(prediction):
        logits = prediction.predictions
        logits = logits[0] if isinstance(logits, tuple) else logits
        predicted, labels = logits.argmax(-1), prediction.label_ids
        hits = ((predicted == 1) & (labels == 1)).sum()
        if numpy_division:
            precision, recall = hits / (predicted == 1).sum(), hits / (labels == 1).sum()
        else:
            precision = int(hits) / int((predicted == 1).sum())
            recall = int(hits) / int((labels == 1).sum())
        f1 = 2 * precision * recall / (precision + recall)
        return {"accuracy": float((predicted == labels).mean()), "f1": float(f1)}

    with (
        np.errstate(invalid="ignore", divide="ignore"),
        pytest.raises(check.CheckFailed, match="F1 is then 0"),
    ):
        check.compute_metrics(divides)


@pytest.mark.parametrize("mistake", PAIR_MISTAKES, ids=lambda m: m.hint[:40])
def test_pair_mistakes_get_their_hint(mistake):
    with pytest.raises(check.CheckFailed) as failure:
        check.tokenize_pairs(mistake.wrong_implementation)
    assert mistake.hint in str(failure.value)


def test_pairs_returned_as_tensors_get_advice():
    def as_tensors(batch, tokenizer, max_length=64):
        return tokenizer(
            batch["first"],
            batch["second"],
            truncation=True,
            max_length=max_length,
            padding=True,
            return_tensors="pt",
        )

    with pytest.raises(check.CheckFailed, match="return lists"):
        check.tokenize_pairs(as_tensors)


def test_the_classifier_check_passes_the_reference_and_names_each_mistake(capsys):
    check.mean_pooling_classifier(hf.MeanPoolingClassifier)
    assert capsys.readouterr().out.startswith("✅ MeanPoolingClassifier")
    for mistake in CLASSIFIER_MISTAKES:
        with pytest.raises(check.CheckFailed) as failure:
            check.mean_pooling_classifier(mistake.wrong_implementation)
        assert mistake.hint in str(failure.value)


def test_the_classifier_check_explains_other_mistakes():
    class Tuple(hf.MeanPoolingClassifier):
        def forward(self, input_ids, attention_mask, labels=None, token_type_ids=None):
            output = super().forward(input_ids, attention_mask, labels)
            return tuple(output.values())

    class Renamed(torch.nn.Module):
        def __init__(self, encoder, num_labels, dropout=0.1):
            super().__init__()
            self.bert = encoder
            self.head = torch.nn.Linear(encoder.config.hidden_size, num_labels)

    class NoLoss(hf.MeanPoolingClassifier):
        def forward(self, input_ids, attention_mask, labels=None, token_type_ids=None):
            return {"logits": super().forward(input_ids, attention_mask)["logits"]}

    class Positional(hf.MeanPoolingClassifier):
        def forward(self, batch):
            return super().forward(**batch)

    for wrong, message in (
        (Tuple, "should return a dict"),
        (Renamed, "self.encoder"),
        (NoLoss, "no 'loss'"),
        (Positional, "keywords"),
    ):
        with pytest.raises(check.CheckFailed, match=message):
            check.mean_pooling_classifier(wrong)


def test_trainer_trains_the_mean_pooling_classifier():
    config = transformers.BertConfig(
        vocab_size=40, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=16,
    )  # fmt: skip
    torch.manual_seed(0)
    model = hf.MeanPoolingClassifier(transformers.BertModel(config), 2)
    rows = [{"input_ids": [2, 5 + i % 7, 3][: 2 + i % 2], "label": i % 2} for i in range(32)]
    dataset = datasets.Dataset.from_list(rows)
    arguments = transformers.TrainingArguments(
        output_dir=str(Path(tempfile.mkdtemp()) / "out"), num_train_epochs=1, report_to=[],
        per_device_train_batch_size=8, save_strategy="no", logging_strategy="no",
        disable_tqdm=True, use_cpu=True,
    )  # fmt: skip
    trainer = transformers.Trainer(
        model=model, args=arguments, train_dataset=dataset, eval_dataset=dataset,
        data_collator=lambda examples: hf.collate(examples, 0), compute_metrics=trainer_metrics,
    )  # fmt: skip
    trainer.train()
    scores = trainer.evaluate()
    assert 0.0 <= scores["eval_accuracy"] <= 1.0 and "eval_loss" in scores


def test_save_word_tokenizer_reads_whole_words_and_unknowns(tmp_path):
    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", "the", "côte"]
    hf.save_word_tokenizer(vocabulary, tmp_path)
    tokenizer = transformers.AutoTokenizer.from_pretrained(tmp_path)
    assert tokenizer("The côte [MASK] nowhere.").input_ids == [2, 6, 7, 4, 1, 5, 3]


def test_without_log_lines_keeps_a_progress_bar_that_prints_no_logs():
    model = transformers.BertForSequenceClassification(
        transformers.BertConfig(
            vocab_size=20,
            hidden_size=8,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=16,
        )
    )
    with tempfile.TemporaryDirectory() as folder:
        arguments = transformers.TrainingArguments(output_dir=folder, report_to=[])
        trainer = hf.without_log_lines(transformers.Trainer(model=model, args=arguments))
    bars = [
        c
        for c in trainer.callback_handler.callbacks
        if isinstance(c, transformers.ProgressCallback)
    ]
    assert len(bars) == 1 and type(bars[0]).__name__ == "ProgressBarOnly"
    assert bars[0].on_log(arguments, None, None, logs={"loss": 1.0}) is None
