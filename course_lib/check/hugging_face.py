"""Checks for notebook 08 (the Hugging Face stack): collating tokenised examples into a batch,
Trainer's compute_metrics, and tokenising sentence pairs for `datasets.map`."""

from __future__ import annotations

import contextlib
import copy
import io
from collections.abc import Mapping

import numpy as np
import torch

from .. import hugging_face as reference
from .. import packages
from ..metrics import trainer_metrics
from .framework import CheckFailed, Mistake, passed, recognises, require_function

transformers = packages.lazy("transformers", "transformers==5.24.0")
datasets = packages.lazy("datasets", "datasets==5.2.0")


def _call(fn, name: str, where: str, advice, *args):
    """The learner's `fn(*args)`; a failure becomes a CheckFailed that names the call, with
    `advice(error)` (a sentence, or "") added."""
    try:
        return fn(*args)
    except NotImplementedError:
        raise CheckFailed(
            f"{name} is not implemented yet: replace `raise NotImplementedError()` with your code"
        ) from None
    except Exception as error:  # the learner's code may raise anything; report it plainly
        message = str(error).strip().rstrip(".")
        raise CheckFailed(
            f"{where} raised {type(error).__name__}: {message}.{advice(error)}"
        ) from error


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


# The hints of collate's messages, each naming one mistake of the catalogue below.
NOT_A_DICT = (
    f"collate should return a dict with keys {KEYS}, as a model's forward(**batch) takes them"
)
LABEL_KEY = "the labels are under 'label': transformers models want them under 'labels', plural"
LABELS_MISSING = (
    "the labels are missing: add 'labels', a tensor of the examples' labels, from which the "
    "model computes the loss"
)
NOT_A_TENSOR = "return torch tensors (torch.tensor(rows)): a model takes tensors, not lists"
BOOLEAN_MASK = "use .long() on a boolean mask: transformers models want the mask as 0s and 1s"
NOT_INTEGERS = (
    "every tensor of the batch holds integers (torch.long): the ids, a mask of 0s and 1s, and "
    "the labels as class indices"
)
FIXED_LENGTH = "pad to the longest example of the batch, not to a fixed length"
LEFT_PADDED = "input_ids are padded on the left: pad on the right (after the tokens)"
PADDED_WITH_ZERO = "padding uses 0: use the pad_id argument"
MASK_INVERTED = "the attention mask is inverted: 1 at real tokens, 0 at padding"
MASK_ON_THE_LEFT = "the attention mask marks the left end: real tokens are on the left"
MASK_PADDED_WITH_PAD_ID = (
    "the attention mask is padded with pad_id: its padding is 0 whatever the pad id (1 at real "
    "tokens, 0 at padding)"
)


def _hint(name: str, got: torch.Tensor, expected: torch.Tensor, pad_id: int) -> str:
    if got.shape != expected.shape:
        if name != "labels" and got.shape[0] == expected.shape[0]:
            return (
                f"{name} has {got.shape[1]} columns where the longest example has "
                f"{expected.shape[1]}: {FIXED_LENGTH}"
            )
        return f"{name} has shape {tuple(got.shape)}, expected {tuple(expected.shape)}"
    if name == "input_ids":
        left = _left_padded(expected, pad_id)
        if torch.equal(got, left):
            return LEFT_PADDED
        if pad_id != 0 and torch.equal(got, torch.where(expected == pad_id, 0, expected)):
            return f"{PADDED_WITH_ZERO} ({pad_id})"
    if name == "attention_mask":
        if torch.equal(got, 1 - expected):
            return MASK_INVERTED
        if torch.equal(got, expected.flip(-1)):
            return MASK_ON_THE_LEFT
        if pad_id not in (0, 1) and torch.equal(got, torch.where(expected == 0, pad_id, 1)):
            return MASK_PADDED_WITH_PAD_ID
    return f"{name} differs from the expected batch:\n{got.tolist()}\nexpected\n{expected.tolist()}"


def _left_padded(expected_ids: torch.Tensor, pad_id: int) -> torch.Tensor:
    rows = []
    for row in expected_ids.tolist():
        tokens = [t for t in row if t != pad_id] if pad_id in row else row
        rows.append([pad_id] * (len(row) - len(tokens)) + tokens)
    return torch.tensor(rows)


def _collate_with(mistake: str):
    """`collate` in the learner's form, with one mistake: the catalogue below."""

    def collate(examples, pad_id):
        rows = [example["input_ids"] for example in examples]
        width = 16 if mistake == "fixed length" else max(len(row) for row in rows)
        fill = 0 if mistake == "padded with 0" else pad_id
        mask_fill = pad_id if mistake == "mask padded with pad_id" else 0
        ids, mask = [], []
        for row in rows:
            padding = width - len(row)
            ids.append([fill] * padding + row if mistake == "left" else row + [fill] * padding)
            on_the_left = mistake in ("left", "mask on the left")
            ones, zeros = [1] * len(row), [mask_fill] * padding
            mask.append(zeros + ones if on_the_left else ones + zeros)
        if mistake == "not a dict":
            return ids
        labels = [example["label"] for example in examples]
        if mistake == "lists":
            return {"input_ids": ids, "attention_mask": mask, "labels": labels}
        mask = torch.tensor(mask)
        if mistake == "mask inverted":
            mask = 1 - mask
        elif mistake == "boolean mask":
            mask = mask.bool()
        elif mistake == "float mask":
            mask = mask.float()
        batch = {"input_ids": torch.tensor(ids), "attention_mask": mask}
        if mistake != "no labels":
            batch["label" if mistake == "label" else "labels"] = torch.tensor(labels)
        return batch

    return collate


COLLATE_MISTAKES = [
    Mistake(NOT_A_DICT, _collate_with("not a dict")),
    Mistake(LABEL_KEY, _collate_with("label")),
    Mistake(LABELS_MISSING, _collate_with("no labels")),
    Mistake(NOT_A_TENSOR, _collate_with("lists")),
    Mistake(BOOLEAN_MASK, _collate_with("boolean mask")),
    Mistake(NOT_INTEGERS, _collate_with("float mask")),
    Mistake(FIXED_LENGTH, _collate_with("fixed length")),
    Mistake(LEFT_PADDED, _collate_with("left")),
    Mistake(PADDED_WITH_ZERO, _collate_with("padded with 0")),
    Mistake(MASK_INVERTED, _collate_with("mask inverted")),
    Mistake(MASK_ON_THE_LEFT, _collate_with("mask on the left")),
    Mistake(MASK_PADDED_WITH_PAD_ID, _collate_with("mask padded with pad_id")),
]


@recognises(COLLATE_MISTAKES)
def collate(learner_fn) -> None:
    """Check `collate(examples, pad_id) -> {"input_ids", "attention_mask", "labels"}`."""
    fn = require_function(learner_fn, "collate")
    cases = _cases()
    for examples, pad_id in cases:
        where = _describe(examples, pad_id)
        original = copy.deepcopy(examples)
        batch = _call(
            fn,
            "collate",
            where,
            lambda error: f" Keep the signature {SIGNATURE}.",
            copy.deepcopy(examples),
            pad_id,
        )
        expected = reference.collate(original, pad_id)
        if not isinstance(batch, dict):
            raise CheckFailed(f"{where} returned a {type(batch).__name__}: {NOT_A_DICT}")
        missing = [key for key in KEYS if key not in batch]
        if missing:
            if "label" in batch:
                hint = f": {LABEL_KEY}"
            elif missing == ["labels"]:
                hint = f": {LABELS_MISSING}"
            else:
                hint = ""
            raise CheckFailed(f"{where} returned no {missing}{hint}")
        for key in KEYS:
            value = batch[key]
            if not isinstance(value, torch.Tensor):
                raise CheckFailed(f"{where}: {key} is a {type(value).__name__}: {NOT_A_TENSOR}")
            if value.dtype == torch.bool:
                raise CheckFailed(f"{where}: {key} holds booleans: {BOOLEAN_MASK}")
            if value.dtype != torch.long:
                raise CheckFailed(f"{where}: {key} has dtype {value.dtype}: {NOT_INTEGERS}")
            if value.shape != expected[key].shape or not torch.equal(value, expected[key]):
                raise CheckFailed(f"{where}: {_hint(key, value, expected[key], pad_id)}")
    passed("collate", f"correct on {len(cases)} batches (right padding, mask, labels)")


# --- compute_metrics for Trainer -----------------------------------------------------------------

METRICS_SIGNATURE = "compute_metrics(prediction)"
METRIC_TOLERANCE = 1e-6


def _eval_predictions(seed: int) -> list:
    """EvalPrediction-like cases: logits (N, 2) and labels (N,), as Trainer passes them; one where
    nothing is predicted positive (F1 is 0), one whose predictions are a tuple (logits, more)."""
    rng = np.random.default_rng(seed)
    cases = []
    for size in (8, 13, 30):
        logits = rng.normal(size=(size, 2)).astype(np.float32)
        cases.append(_Prediction(logits, rng.integers(0, 2, size)))
    negative = np.stack([np.ones(6), np.zeros(6)], axis=1).astype(np.float32)
    cases.append(_Prediction(negative, np.array([0, 0, 0, 0, 1, 1])))
    logits = rng.normal(size=(9, 2)).astype(np.float32)
    extra = rng.normal(size=(9, 4)).astype(np.float32)
    cases.append(_Prediction((logits, extra), rng.integers(0, 2, 9)))
    return cases


class _Prediction:
    """What Trainer hands compute_metrics (`transformers.EvalPrediction`'s two fields)."""

    def __init__(self, predictions, label_ids):
        self.predictions, self.label_ids = predictions, label_ids

    def __iter__(self):  # EvalPrediction also unpacks as (predictions, label_ids)
        return iter((self.predictions, self.label_ids))

    def describe(self) -> str:
        logits = self.predictions
        if isinstance(logits, tuple):
            shapes = ", ".join(str(part.shape) for part in logits)
            return f"predictions a tuple of arrays ({shapes}), label_ids ({len(self.label_ids)},)"
        return f"predictions {logits.shape}, label_ids ({len(self.label_ids)},)"


def _f1(predicted, labels, positive: int, mistake: str) -> float:
    """F1 of the class `positive`; with the mistake "division", precision and recall divide by
    zero when nothing is predicted (or labelled) positive."""
    hits = int(((predicted == positive) & (labels == positive)).sum())
    predicted_positives, positives = (
        int((predicted == positive).sum()),
        int((labels == positive).sum()),
    )
    if mistake == "division":
        precision, recall = hits / predicted_positives, hits / positives
    else:
        precision, recall = hits / max(predicted_positives, 1), hits / max(positives, 1)
    if mistake == "arithmetic mean":
        return (precision + recall) / 2
    return 2 * precision * recall / (precision + recall) if hits else 0.0


def _wrong_metrics(prediction, mistake: str):
    """`compute_metrics` with one mistake: the catalogue below."""
    logits = prediction.predictions
    if isinstance(logits, tuple) and mistake != "tuple":
        logits = logits[0]
    if mistake == "threshold":
        predicted = (logits[:, 1] > 0.5).astype(int)
    else:
        predicted = logits.argmax(0 if mistake == "argmax over examples" else -1)
    labels = prediction.label_ids
    accuracy = float((predicted == labels).mean())
    f1 = _f1(predicted, labels, 0 if mistake == "negative class" else 1, mistake)
    if mistake == "macro":
        f1 = (f1 + _f1(predicted, labels, 0, mistake)) / 2
    if mistake == "percent":
        accuracy, f1 = 100 * accuracy, 100 * f1
    if mistake == "tuple returned":
        return accuracy, f1
    if mistake == "tensors":
        return {"accuracy": torch.tensor(accuracy), "f1": torch.tensor(f1)}
    return {"accuracy": accuracy, "f1_score" if mistake == "key names" else "f1": f1}


def _metrics_with(mistake: str):
    return lambda prediction: _wrong_metrics(prediction, mistake)


# The hints of compute_metrics's messages, each naming one mistake of the catalogue below.
NOT_NAMED = 'Trainer wants a dict of named scores, {"accuracy": ..., "f1": ...}'
KEY_NAMES = (
    "name the scores exactly 'accuracy' and 'f1': Trainer logs them as eval_accuracy and "
    "eval_f1, and metric_for_best_model finds them by name"
)
NOT_FLOATS = "Trainer logs and saves the scores as JSON, so return Python floats (float(...))"
DIVISION = (
    "When nothing is predicted positive (or no label is positive) precision or recall divides "
    "by zero: F1 is then 0 (count the true positives first; 2·TP / (predicted positives + "
    "positives) avoids the division)."
)
TUPLE_OF_OUTPUTS = (
    "`prediction.predictions` can be a tuple (logits, other outputs) when the model returns more "
    "than logits: take its first item in that case."
)
ARGMAX_AXIS = "Take the argmax over the classes, the last axis (argmax(-1)), one per example."

METRICS_MISTAKES = [
    Mistake(
        "the scores are percentages: Trainer expects shares between 0 and 1 (it reports them as "
        "they are)",
        _metrics_with("percent"),
    ),
    Mistake(
        "F1 is the F1 of the positive class (label 1): true positives are predicted 1 and "
        "labelled 1",
        _metrics_with("negative class"),
    ),
    Mistake(
        "F1 is the harmonic mean of precision and recall, 2·P·R / (P + R), not their average",
        _metrics_with("arithmetic mean"),
    ),
    Mistake(
        "predictions holds logits (any real numbers), not probabilities: the predicted class is "
        "the argmax over the classes, argmax(-1)",
        _metrics_with("threshold"),
    ),
    Mistake(
        "F1 is the positive class's (label 1) alone, not the average of both classes' F1 (macro "
        "F1)",
        _metrics_with("macro"),
    ),
    Mistake(NOT_NAMED, _metrics_with("tuple returned")),
    Mistake(KEY_NAMES, _metrics_with("key names")),
    Mistake(NOT_FLOATS, _metrics_with("tensors")),
    Mistake(DIVISION, _metrics_with("division")),
    Mistake(TUPLE_OF_OUTPUTS, _metrics_with("tuple")),
    Mistake(ARGMAX_AXIS, _metrics_with("argmax over examples")),
]


def _metrics_error_advice(error: Exception) -> str:
    message = str(error)
    if isinstance(error, ZeroDivisionError) or "division" in message:
        return f" {DIVISION}"
    if "tuple" in message:
        return f" {TUPLE_OF_OUTPUTS}"
    if "broadcast" in message or "shape" in message:
        return f" {ARGMAX_AXIS}"
    return ""


def _same_scores(got: Mapping, theirs) -> bool:
    """Whether the learner's scores `got` equal those of a known mistake (`theirs`)."""
    return isinstance(theirs, Mapping) and all(
        key in got and isinstance(value, float) and abs(got[key] - value) <= METRIC_TOLERANCE
        for key, value in theirs.items()
    )


def _quietly(fn, *args):
    """`fn(*args)`, or None when it fails: a known mistake that cannot run here matches nothing."""
    try:
        return fn(*args)
    except Exception:  # noqa: BLE001
        return None


@recognises(METRICS_MISTAKES)
def compute_metrics(learner_fn, *, seed: int = 0) -> None:
    """Check `compute_metrics(prediction) -> {"accuracy": float, "f1": float}` against
    `metrics.trainer_metrics` on EvalPrediction-like inputs (logits, labels)."""
    fn = require_function(learner_fn, "compute_metrics")
    cases = _eval_predictions(seed)
    for case in cases:
        where = f"compute_metrics({case.describe()})"
        got = _call(fn, "compute_metrics", where, _metrics_error_advice, copy.deepcopy(case))
        expected = trainer_metrics(case)
        if not isinstance(got, Mapping):
            raise CheckFailed(f"{where} returned a {type(got).__name__}: {NOT_NAMED}")
        missing = [key for key in expected if key not in got]
        if missing:
            raise CheckFailed(
                f"{where} returned keys {sorted(got)}: {missing} missing; {KEY_NAMES}"
            )
        for key, value in got.items():
            if not isinstance(value, float):
                raise CheckFailed(f"{where}: {key} is a {type(value).__name__}; {NOT_FLOATS}")
        if any(value != value for value in got.values()):  # NaN: 0 / 0 in numpy
            raise CheckFailed(
                f"{where} returned {_rounded_dict(got)}: a score is NaN (not a number), the "
                f"result of 0 / 0. {DIVISION}"
            )
        if all(abs(got[key] - expected[key]) <= METRIC_TOLERANCE for key in expected):
            continue
        for mistake in METRICS_MISTAKES:
            if _same_scores(got, _quietly(mistake.wrong_implementation, case)):
                raise CheckFailed(f"{where} is wrong: {mistake.hint}.")
        raise CheckFailed(
            f"{where} returned {_rounded_dict(got)}, expected {_rounded_dict(expected)}"
        )
    passed("compute_metrics", f"accuracy and F1 match on {len(cases)} predictions")


def _rounded_dict(scores: Mapping) -> str:
    return "{" + ", ".join(f"{key!r}: {value:.4f}" for key, value in scores.items()) + "}"


# --- tokenising sentence pairs for datasets.map --------------------------------------------------

PAIRS_SIGNATURE = "tokenize_pairs(batch, tokenizer, max_length=64)"
PAIR_COLUMNS = ("input_ids", "token_type_ids", "attention_mask")

_SHORT = ["The film was fine.", "A dull plot.", "Great acting, weak script!"]
_LONG = (
    "It goes on and on, scene after scene, with characters nobody could care about and "
    "dialogue that sounds as if it was translated twice."
)
PAIR_CASES = [
    ({"first": _SHORT, "second": ["I liked it.", "Boring.", "Worth seeing once."]}, 64),
    ({"first": [f"{_LONG} {_LONG}", "Fine."], "second": [_LONG, "Good."]}, 64),  # 84 tokens
    ({"first": [_LONG, "Short one.", _LONG], "second": ["Short.", _LONG, _LONG]}, 24),
]


def _pair_tokenizer():
    return transformers.AutoTokenizer.from_pretrained(packages.minilm_folder())


def _joined(batch, tokenizer, max_length=64):
    texts = [f"{a} {b}" for a, b in zip(batch["first"], batch["second"], strict=True)]
    return tokenizer(texts, truncation=True, max_length=max_length)


def _separately(batch, tokenizer, max_length=64):
    first = tokenizer(batch["first"], truncation=True, max_length=max_length)
    second = tokenizer(batch["second"], truncation=True, max_length=max_length)
    return {key: [a + b for a, b in zip(first[key], second[key], strict=True)] for key in first}


def _options(**options):
    def tokenize(batch, tokenizer, max_length=64):
        return tokenizer(batch["first"], batch["second"], max_length=max_length, **options)

    return tokenize


def _swapped(batch, tokenizer, max_length=64):
    return tokenizer(batch["second"], batch["first"], truncation=True, max_length=max_length)


def _fixed_length(batch, tokenizer, max_length=64):
    return tokenizer(batch["first"], batch["second"], truncation=True, max_length=64)


def _pair_by_pair(batch, tokenizer, max_length=64):
    return [
        tokenizer(first, second, truncation=True, max_length=max_length)
        for first, second in zip(batch["first"], batch["second"], strict=True)
    ]


AS_TENSORS = (
    "return lists (no return_tensors): the pairs have different lengths, and datasets stores lists"
)
PAIR_BY_PAIR = (
    "that is a list of encodings, one per pair: call the tokenizer once on the two lists, "
    "tokenizer(batch['first'], batch['second'], ...), which returns the columns"
)
ONE_SIDE_HINT = (
    "only one text is cut: truncation=True (the 'longest_first' strategy) trims the longer of "
    "the two, token by token, until the pair fits"
)
PAIR_MISTAKES = [
    Mistake(
        "the two texts were joined into one string, so the pair has no [SEP] between them and "
        "every segment id is 0: pass both lists, tokenizer(batch['first'], batch['second'], ...)",
        _joined,
    ),
    Mistake(
        "the two texts were tokenised separately and glued together, which gives two [CLS] and "
        "segment ids of 0 for both: pass both lists to one call, tokenizer(first, second, ...)",
        _separately,
    ),
    Mistake(  # before "not cut": where no pair is longer than 64 tokens they agree
        "the max_length argument is not used: pass max_length=max_length, not a number of your own",
        _fixed_length,
    ),
    Mistake(
        "long pairs are not cut: pass truncation=True and max_length=max_length, or a model "
        "with 512 positions will one day get a pair it cannot read",
        lambda batch, tokenizer, max_length=64: tokenizer(batch["first"], batch["second"]),
    ),
    Mistake(ONE_SIDE_HINT, _options(truncation="only_first")),
    Mistake(ONE_SIDE_HINT, _options(truncation="only_second")),
    Mistake(
        "every pair is padded to max_length: leave padding to the collator "
        "(DataCollatorWithPadding pads each batch to its own longest pair, which is cheaper)",
        _options(truncation=True, padding="max_length"),
    ),
    Mistake(
        "the pairs are padded to the longest of their batch: leave padding to the collator, which "
        "pads each training batch (Dataset.map's batches of 1,000 are not the training batches)",
        _options(truncation=True, padding=True),
    ),
    Mistake(
        "the texts are swapped: the first text is segment 0, right after [CLS]",
        _swapped,
    ),
    Mistake(AS_TENSORS, _options(truncation=True, padding=True, return_tensors="pt")),
    Mistake(PAIR_BY_PAIR, _pair_by_pair),
]


def _columns(result, where: str) -> dict[str, list]:
    if isinstance(result, list):
        raise CheckFailed(f"{where} returned a list: {PAIR_BY_PAIR}")
    if not isinstance(result, Mapping):
        raise CheckFailed(
            f"{where} returned a {type(result).__name__}: return what the tokenizer returns (a "
            "dict-like BatchEncoding of columns)"
        )
    missing = [key for key in PAIR_COLUMNS if key not in result]
    if missing:
        raise CheckFailed(
            f"{where} returned columns {sorted(result)}; {missing} missing (a BERT tokenizer "
            "returns all three when called on a pair)"
        )
    columns = {}
    for key in PAIR_COLUMNS:
        value = result[key]
        if isinstance(value, torch.Tensor | np.ndarray):
            raise CheckFailed(f"{where}: {key} is a {type(value).__name__}; {AS_TENSORS}")
        columns[key] = [list(row) for row in value]
    return columns


def _call_quietly(fn, batch, tokenizer, max_length):
    try:
        with contextlib.redirect_stderr(io.StringIO()):  # the tokenizer's truncation warnings
            return fn(copy.deepcopy(batch), tokenizer, max_length)
    except Exception:  # noqa: BLE001 - a mistake that cannot run on this case matches nothing
        return None


def _pairs_error_advice(error: Exception) -> str:
    advice = ""
    if "Truncation error" in str(error):
        advice = f" The hint: {ONE_SIDE_HINT}."
    if "return_tensors" in str(error) or "padding=True" in str(error):
        advice = " Return lists: leave out return_tensors, the collator makes tensors."
    return f"{advice} Keep the signature {PAIRS_SIGNATURE}."


@recognises(PAIR_MISTAKES)
def tokenize_pairs(learner_fn) -> None:
    """Check `tokenize_pairs(batch, tokenizer, max_length=64)` against the MiniLM tokenizer's own
    pair encoding, called directly and through `datasets.Dataset.map(..., batched=True)`."""
    fn = require_function(learner_fn, "tokenize_pairs")
    tokenizer = _pair_tokenizer()
    for batch, max_length in PAIR_CASES:
        where = f"tokenize_pairs({len(batch['first'])} pairs, tokenizer, max_length={max_length})"
        expected = _columns(reference.tokenize_pairs(batch, tokenizer, max_length), "reference")
        result = _call(
            fn,
            "tokenize_pairs",
            where,
            _pairs_error_advice,
            copy.deepcopy(batch),
            tokenizer,
            max_length,
        )
        got = _columns(result, where)
        if got == expected:
            continue
        for mistake in PAIR_MISTAKES:
            theirs = _call_quietly(mistake.wrong_implementation, batch, tokenizer, max_length)
            if isinstance(theirs, Mapping) and all(
                isinstance(theirs.get(key), list) and [list(row) for row in theirs[key]] == got[key]
                for key in PAIR_COLUMNS
            ):
                raise CheckFailed(f"{where} is wrong: {mistake.hint}.")
        for key in PAIR_COLUMNS:
            if got[key] != expected[key]:
                pairs = zip(got[key], expected[key], strict=False)
                row = next(i for i, (a, b) in enumerate(pairs) if a != b)
                raise CheckFailed(
                    f"{where}: {key} of pair {row} is {got[key][row]}, expected "
                    f"{expected[key][row]}"
                )
    batch, max_length = PAIR_CASES[-1]
    table = datasets.Dataset.from_dict(batch)
    try:
        mapped = table.map(
            fn,
            batched=True,
            fn_kwargs={"tokenizer": tokenizer, "max_length": max_length},
            load_from_cache_file=False,
            keep_in_memory=True,
        )
    except Exception as error:  # noqa: BLE001 - reported to the learner
        raise CheckFailed(
            f"Dataset.map(tokenize_pairs, batched=True) raised {type(error).__name__}: {error}"
        ) from error
    expected = reference.tokenize_pairs(batch, tokenizer, max_length)
    if any(mapped[key] != expected[key] for key in PAIR_COLUMNS):
        raise CheckFailed("Dataset.map(tokenize_pairs, batched=True) gives other columns")
    passed(
        "tokenize_pairs",
        f"equal to the tokenizer's pair encoding on {len(PAIR_CASES)} batches, and through "
        "Dataset.map",
    )


# --- a classifier Trainer can train (notebook 08b) -----------------------------------------------

CLASSIFIER_SIGNATURE = "MeanPoolingClassifier(encoder, num_labels, dropout=0.1)"


def _tiny_encoder():
    config = transformers.BertConfig(
        vocab_size=60,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=32,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return transformers.BertModel(config).eval()


def _pooled_with(kind: str):
    """A classifier that pools the wrong way (or computes the wrong loss): the catalogue below."""

    class Wrong(reference.MeanPoolingClassifier):
        def forward(self, input_ids, attention_mask, labels=None, token_type_ids=None):
            output = self.encoder(input_ids=input_ids, attention_mask=attention_mask)
            states = output.last_hidden_state
            real = attention_mask.unsqueeze(-1).to(states.dtype)
            if kind == "mask not unsqueezed":
                real = attention_mask.to(states.dtype)
            if kind == "padding counted":
                pooled = states.mean(dim=1)
            elif kind == "first token":
                pooled = states[:, 0]
            elif kind == "pooler":
                pooled = output.pooler_output
            elif kind == "sum":
                pooled = (states * real).sum(dim=1)
            elif kind == "divided by the length":
                pooled = (states * real).sum(dim=1) / states.shape[1]
            elif kind == "max":
                pooled = states.masked_fill(real == 0, float("-inf")).amax(dim=1)
            else:
                pooled = (states * real).sum(dim=1) / real.sum(dim=1)
            logits = self.classifier(self.dropout(pooled))
            returned = logits.softmax(-1) if kind == "probabilities returned" else logits
            if labels is None:
                return {"logits": returned}
            if kind == "loss on probabilities":
                loss = torch.nn.functional.cross_entropy(logits.softmax(-1), labels)
            elif kind == "loss without log":
                loss = torch.nn.functional.nll_loss(logits, labels)
            elif kind == "summed loss":
                loss = torch.nn.functional.cross_entropy(logits, labels, reduction="sum")
            else:
                loss = torch.nn.functional.cross_entropy(logits, labels)
            return {"loss": loss, "logits": returned}

    Wrong.__name__ = f"MeanPoolingClassifier_{kind.replace(' ', '_')}"
    return Wrong


CLASSIFIER_MISTAKES = [
    Mistake(
        "the mean counts the padding: multiply the states by attention_mask (as floats, "
        "unsqueezed to (batch, seq, 1)) and divide by the number of real tokens, not by seq",
        _pooled_with("padding counted"),
    ),
    Mistake(
        "that is the first token's ([CLS]) vector: average the states of the real tokens instead",
        _pooled_with("first token"),
    ),
    Mistake(
        "that is BERT's pooler_output (the [CLS] vector through a tanh layer), which Trainer's "
        "AutoModelForSequenceClassification reads: here, average the last_hidden_state over "
        "the real tokens",
        _pooled_with("pooler"),
    ),
    Mistake(
        "that is the sum of the real tokens' states: divide by how many there are",
        _pooled_with("sum"),
    ),
    Mistake(
        "the sum leaves the padding out but the division counts it: divide by the number of real "
        "tokens, attention_mask.sum(1), not by seq",
        _pooled_with("divided by the length"),
    ),
    Mistake(
        "that is max pooling: average the real tokens' states instead (their sum divided by "
        "their number)",
        _pooled_with("max"),
    ),
    Mistake(
        "the mask needs a feature axis to multiply the states (batch, seq, hidden): use "
        "attention_mask.unsqueeze(-1), of shape (batch, seq, 1)",
        _pooled_with("mask not unsqueezed"),
    ),
    Mistake(
        "'logits' are the classifier's raw scores: return them before any softmax (the loss "
        "and Trainer's metrics take raw scores)",
        _pooled_with("probabilities returned"),
    ),
    Mistake(
        "the loss is summed over the batch: return the mean cross-entropy (F.cross_entropy's "
        "default), so that its scale does not depend on the batch size",
        _pooled_with("summed loss"),
    ),
    Mistake(
        "cross_entropy takes the logits themselves: it applies log_softmax inside, so softmax "
        "first squashes the loss",
        _pooled_with("loss on probabilities"),
    ),
    Mistake(
        "nll_loss expects log-probabilities: use F.cross_entropy(logits, labels), which takes "
        "the log_softmax for you",
        _pooled_with("loss without log"),
    ),
]


def _classifier_batch():
    ids = torch.tensor(
        [[2, 11, 12, 13, 14, 3], [2, 21, 22, 3, 0, 0], [2, 31, 3, 0, 0, 0]], dtype=torch.long
    )
    mask = (ids != 0).long()
    return ids, mask, torch.tensor([0, 2, 1])


def _outputs(model, where: str, with_labels: bool):
    ids, mask, labels = _classifier_batch()
    kwargs = {"input_ids": ids, "attention_mask": mask}
    if with_labels:
        kwargs["labels"] = labels
    try:
        with torch.no_grad():
            return model(**kwargs)
    except NotImplementedError:
        raise CheckFailed(
            "MeanPoolingClassifier is not implemented yet: replace `raise "
            "NotImplementedError()` with your code"
        ) from None
    except Exception as error:  # the learner's code may raise anything; report it plainly
        message = str(error).strip().rstrip(".")
        raise CheckFailed(
            f"{where} raised {type(error).__name__}: {message}. Trainer calls the model with "
            "keywords: forward(input_ids, attention_mask, labels=None, token_type_ids=None)"
        ) from error


def _variant(cls: type, encoder, state: dict) -> torch.nn.Module:
    """A known mistake's classifier with the learner's weights, in eval mode."""
    variant = cls(copy.deepcopy(encoder), 3)
    variant.load_state_dict(state)
    return variant.eval()


def _attempt(model) -> tuple:
    """(outputs, None) of `model` on the check's batch with labels, or (None, the error)."""
    try:
        return _outputs(model, "", with_labels=True), None
    except CheckFailed as failure:
        return None, failure.__cause__


@recognises(CLASSIFIER_MISTAKES)
def mean_pooling_classifier(learner_class) -> None:
    """Check `MeanPoolingClassifier(encoder, num_labels, dropout=0.1)` against
    `hugging_face.MeanPoolingClassifier` with copied weights, on a tiny BERT and a padded batch:
    the dict Trainer reads, the mean over real tokens, the loss."""
    cls = require_function(learner_class, "mean_pooling_classifier")
    encoder = _tiny_encoder()
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(1)
            model = cls(copy.deepcopy(encoder), 3)
    except NotImplementedError:
        raise CheckFailed(
            "MeanPoolingClassifier is not implemented yet: replace `raise NotImplementedError()` "
            "with your code"
        ) from None
    except Exception as error:  # noqa: BLE001 - reported to the learner
        raise CheckFailed(
            f"{CLASSIFIER_SIGNATURE} raised {type(error).__name__}: {error}"
        ) from error
    expected_model = reference.MeanPoolingClassifier(copy.deepcopy(encoder), 3)
    try:
        expected_model.load_state_dict(model.state_dict())
    except (RuntimeError, AttributeError) as error:
        raise CheckFailed(
            "your classifier's weights should be the encoder as self.encoder and one "
            "nn.Linear(encoder.config.hidden_size, num_labels) as self.classifier (dropout has no "
            f"weights); loading them into the course's failed: {str(error).splitlines()[0]}"
        ) from None
    model.eval()
    expected_model.eval()
    where = "your classifier(input_ids, attention_mask, labels) on a padded batch of 3"
    variants = [
        (mistake.hint, _variant(mistake.wrong_implementation, encoder, model.state_dict()))
        for mistake in CLASSIFIER_MISTAKES
    ]
    try:
        got = _outputs(model, where, with_labels=True)
    except CheckFailed as failure:
        error = failure.__cause__
        for hint, variant in variants:
            theirs = _attempt(variant)[1]
            if error is not None and type(theirs) is type(error) and str(theirs) == str(error):
                raise CheckFailed(
                    f"{where} raised {type(error).__name__} ({str(error).strip()[:120]}): {hint}"
                ) from None
        raise
    expected = _outputs(expected_model, where, with_labels=True)
    if not isinstance(got, Mapping):
        raise CheckFailed(
            f"{where} should return a dict {{'loss': ..., 'logits': ...}} (Trainer reads "
            f"outputs['loss']), got a {type(got).__name__}"
        )
    if "logits" not in got or not isinstance(got["logits"], torch.Tensor):
        raise CheckFailed(f"{where} should return the logits under 'logits', got {sorted(got)}")
    if tuple(got["logits"].shape) != tuple(expected["logits"].shape):
        raise CheckFailed(
            f"{where}: logits should have shape {tuple(expected['logits'].shape)} (batch, "
            f"num_labels), got {tuple(got['logits'].shape)}"
        )
    wrong_logits = not torch.allclose(got["logits"], expected["logits"], atol=1e-5)
    loss = got.get("loss")
    wrong_loss = not (
        isinstance(loss, torch.Tensor)
        and loss.dim() == 0
        and torch.allclose(loss, expected["loss"], atol=1e-5)
    )
    scalar_loss = isinstance(loss, torch.Tensor) and loss.dim() == 0
    if wrong_logits or (wrong_loss and scalar_loss):
        for hint, variant in variants:
            theirs = _attempt(variant)[0]
            if theirs is None:
                continue
            same_logits = torch.allclose(got["logits"], theirs["logits"], atol=1e-5)
            if wrong_logits and same_logits:
                raise CheckFailed(f"{where}: {hint}")
            if not wrong_logits and scalar_loss and torch.allclose(loss, theirs["loss"], atol=1e-5):
                raise CheckFailed(f"{where}: {hint}")
    if wrong_logits:
        raise CheckFailed(
            f"{where}: the logits differ from the course's (max difference "
            f"{(got['logits'] - expected['logits']).abs().max():.2g}): average last_hidden_state "
            "over the real tokens, then dropout, then self.classifier"
        )
    if loss is None:
        raise CheckFailed(
            f"{where} returned no 'loss': with labels, return the mean cross-entropy under "
            "'loss' (Trainer minimises it)"
        )
    if wrong_loss:
        raise CheckFailed(
            f"{where}: 'loss' should be F.cross_entropy(logits, labels), a single number "
            f"({expected['loss'].item():.4f}), got {loss!r:.80}"
        )
    without = _outputs(model, "your classifier(input_ids, attention_mask)", with_labels=False)
    if not isinstance(without, Mapping) or "logits" not in without:
        raise CheckFailed(
            "without labels your classifier should still return {'logits': ...} (Trainer's "
            "prediction calls it that way)"
        )
    if without.get("loss") is not None:
        raise CheckFailed(
            "without labels there is nothing to compare with: return no 'loss' (or leave it out)"
        )
    passed(
        "MeanPoolingClassifier",
        "logits and loss equal the course's with copied weights; the mean skips the padding",
    )
