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


@recognises()
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


def _wrong_metrics(prediction, *, percent=False, positive=1, mean="harmonic", threshold=False):
    """The reference with one knob turned: the catalogue of mistakes below."""
    logits = prediction.predictions
    logits = logits[0] if isinstance(logits, tuple) else logits
    predicted = (logits[:, 1] > 0.5).astype(int) if threshold else logits.argmax(-1)
    labels = prediction.label_ids
    hits = int(((predicted == positive) & (labels == positive)).sum())
    precision = hits / max(int((predicted == positive).sum()), 1)
    recall = hits / max(int((labels == positive).sum()), 1)
    if mean == "harmonic":
        f1 = 2 * precision * recall / (precision + recall) if hits else 0.0
    else:
        f1 = (precision + recall) / 2
    scale = 100 if percent else 1
    return {"accuracy": scale * float((predicted == labels).mean()), "f1": scale * f1}


METRICS_MISTAKES = [
    Mistake(
        "the scores are percentages: Trainer expects shares between 0 and 1 (it reports them as "
        "they are)",
        lambda p: _wrong_metrics(p, percent=True),
    ),
    Mistake(
        "F1 is the F1 of the positive class (label 1): true positives are predicted 1 and "
        "labelled 1",
        lambda p: _wrong_metrics(p, positive=0),
    ),
    Mistake(
        "F1 is the harmonic mean of precision and recall, 2·P·R / (P + R), not their average",
        lambda p: _wrong_metrics(p, mean="arithmetic"),
    ),
    Mistake(
        "predictions holds logits (any real numbers), not probabilities: the predicted class is "
        "the argmax over the classes, argmax(-1)",
        lambda p: _wrong_metrics(p, threshold=True),
    ),
]


def _metrics_error_advice(error: Exception) -> str:
    message = str(error)
    if isinstance(error, ZeroDivisionError) or "division" in message:
        return (
            " When nothing is predicted positive (or no label is positive) precision or recall "
            "divides by zero: F1 is then 0 (count the true positives first; 2·TP / (predicted "
            "positives + positives) avoids the division)."
        )
    if "tuple" in message:
        return (
            " `prediction.predictions` can be a tuple (logits, other outputs) when the model "
            "returns more than logits: take its first item in that case."
        )
    if "broadcast" in message or "shape" in message:
        return " Take the argmax over the classes, the last axis (argmax(-1)), one per example."
    return ""


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
            raise CheckFailed(
                f"{where} returned a {type(got).__name__}: Trainer wants a dict of named "
                'scores, {"accuracy": ..., "f1": ...}'
            )
        missing = [key for key in expected if key not in got]
        if missing:
            raise CheckFailed(f"{where} returned keys {sorted(got)}: {missing} missing")
        for key, value in got.items():
            if not isinstance(value, float):
                raise CheckFailed(
                    f"{where}: {key} is a {type(value).__name__}; Trainer logs and saves the "
                    "scores as JSON, so return Python floats (float(...))"
                )
        if any(value != value for value in got.values()):  # NaN: 0 / 0 in numpy
            raise CheckFailed(
                f"{where} returned {_rounded_dict(got)}: a score is NaN (not a number), the "
                f"result of 0 / 0.{_metrics_error_advice(ZeroDivisionError())}"
            )
        if all(abs(got[key] - expected[key]) <= METRIC_TOLERANCE for key in expected):
            continue
        for mistake in METRICS_MISTAKES:
            theirs = mistake.wrong_implementation(case)
            if all(abs(got[key] - theirs[key]) <= METRIC_TOLERANCE for key in theirs):
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
        "the texts are swapped: the first text is segment 0, right after [CLS]",
        _swapped,
    ),
]


def _columns(result, where: str) -> dict[str, list]:
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
            raise CheckFailed(
                f"{where}: {key} is a {type(value).__name__}; return lists (no return_tensors): "
                "the pairs have different lengths, and datasets stores lists"
            )
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
            if theirs is not None and all(
                key in theirs and [list(row) for row in theirs[key]] == got[key]
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
    batch, max_length = PAIR_CASES[1]
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
            if kind == "padding counted":
                pooled = states.mean(dim=1)
            elif kind == "first token":
                pooled = states[:, 0]
            elif kind == "pooler":
                pooled = output.pooler_output
            elif kind == "sum":
                pooled = (states * real).sum(dim=1)
            else:
                pooled = (states * real).sum(dim=1) / real.sum(dim=1)
            logits = self.classifier(self.dropout(pooled))
            if labels is None:
                return {"logits": logits}
            if kind == "loss on probabilities":
                loss = torch.nn.functional.cross_entropy(logits.softmax(-1), labels)
            elif kind == "loss without log":
                loss = torch.nn.functional.nll_loss(logits, labels)
            else:
                loss = torch.nn.functional.cross_entropy(logits, labels)
            return {"loss": loss, "logits": logits}

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
    got = _outputs(model, where, with_labels=True)
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
        for mistake in CLASSIFIER_MISTAKES:
            variant = mistake.wrong_implementation(copy.deepcopy(encoder), 3)
            variant.load_state_dict(model.state_dict())
            theirs = _outputs(variant.eval(), where, with_labels=True)
            same_logits = torch.allclose(got["logits"], theirs["logits"], atol=1e-5)
            if wrong_logits and same_logits:
                raise CheckFailed(f"{where}: {mistake.hint}")
            if not wrong_logits and scalar_loss and torch.allclose(loss, theirs["loss"], atol=1e-5):
                raise CheckFailed(f"{where}: {mistake.hint}")
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
