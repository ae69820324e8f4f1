"""Training the T5 of notebook 07 and scoring it task by task, GLUE-style.

`train` runs `training.T5_RECIPE` on span corruption or on a task mixture (`t5_data`).
`predict` answers the examples of one task by greedy decoding; `score` turns answers into the
task's metric (0-100):

| task | metric | trivial baseline |
|---|---|---|
| translate | exact match | copy the input |
| summarize | ROUGE-1 F1 | the article's first 9 words (notebook 05) |
| topic | accuracy | the most frequent training label |
| question | exact match | the most frequent training answer |
| similarity | Pearson correlation x 100 | the mean training score (a constant: 0) |
"""

from __future__ import annotations

import dataclasses
import statistics

from . import metrics, t5_data
from .data import load_checkpoint, save_checkpoint
from .t5 import T5, T5Config, generate, seq2seq_loss
from .training import T5_RECIPE, History, adjusted, evaluating, progress_bar, to_device
from .training import train as train_with_recipe

MAX_ANSWER_TOKENS = {"translate": 16, "summarize": 16, "topic": 4, "question": 8, "similarity": 4}
METRICS = {
    "translate": "exact match",
    "summarize": "ROUGE-1",
    "topic": "accuracy",
    "question": "exact match",
    "similarity": "Pearson x 100",
}
BASELINES = {
    "translate": "copy the input",
    "summarize": "first 9 words",
    "topic": "most frequent label",
    "question": "most frequent answer",
    "similarity": "mean score",
}


def train(
    model: T5,
    batches,
    *,
    device=None,
    evaluate=None,
    eval_every=None,
    desc: str = "T5 training",
    **recipe_changes,
) -> History:
    """`training.T5_RECIPE` (AdamW, warm-up then 1/sqrt(step) decay, clipping), changed by
    `recipe_changes` (steps at least), on `batches` of `T5Batch`es; `fit`'s History."""
    return train_with_recipe(
        model,
        batches,
        seq2seq_loss,
        adjusted(T5_RECIPE, **recipe_changes),
        evaluate=evaluate,
        eval_every=eval_every,
        device=device,
        desc=desc,
    )


def save_model(model: T5, name: str = "t5-pretrained") -> None:
    """Keep a trained model for a later notebook, in the course cache: notebook 07's pretrained
    model ("t5-pretrained") for 07b, 07b's multitask model ("t5-multitask") for 07c."""
    save_checkpoint(name, model, dataclasses.asdict(model.config), t5_data.DATA_VERSION)


def load_model(name: str = "t5-pretrained", device=None) -> T5 | None:
    """A model kept by `save_model`, or None when none was saved for this version of the data."""
    checkpoint = load_checkpoint(name, t5_data.DATA_VERSION)
    if checkpoint is None:
        return None
    model = T5(T5Config(**checkpoint["config"]))
    model.load_state_dict(checkpoint["state"])
    return model.to(device or "cpu")


def span_corruption_loss(model: T5, data: t5_data.MultitaskData, examples: int = 256) -> float:
    """Mean loss on a fixed set of span-corrupted validation sentences (the held-out phrasings;
    the same draws every call)."""
    batches = t5_data.SpanCorruptionBatches(
        data, 64, seed=1, per_epoch=-(-examples // 64), split="validation"
    )
    device = next(model.parameters()).device
    with evaluating(model):
        losses = [seq2seq_loss(model, to_device(batch, device)).item() for batch in batches]
    return statistics.mean(losses)


def fill_in(
    model: T5, data: t5_data.MultitaskData, split: str = "validation", limit: int | None = None
) -> list[tuple[str, str, str]]:
    """(sentence with its answer hidden behind <extra_id_0>, the answer, the model's guess) for
    each pretraining sentence of `split` (validation: the phrasings pretraining never showed)."""
    rows = data.facts[split][:limit]
    sentinel = t5_data.sentinel(0)
    queries = [
        " ".join([*words[:value], sentinel, *words[value + 1 :]]) for words, _, value in rows
    ]
    pairs = [(data.encode(query, data.max_source_len), [t5_data.EOS_ID]) for query in queries]
    device = next(model.parameters()).device
    guesses = []
    for start in range(0, len(pairs), 128):
        batch = t5_data.pad_batch(pairs[start : start + 128], ["fill in"])
        for ids in generate(model, batch.input_ids.to(device), 8):
            guesses.append(data.decode(ids))  # special tokens (the sentinel) left out
    return [
        (query, words[value], guess)
        for query, (words, _, value), guess in zip(queries, rows, guesses, strict=True)
    ]


def predict(
    model: T5,
    data: t5_data.MultitaskData,
    task: str,
    split: str = "test",
    formatter=t5_data.to_text,
    batch_size: int = 128,
    limit: int | None = None,
) -> list[str]:
    """The model's answer (text) to each example of `task` in `split`, by greedy decoding."""
    pairs = data.encoded(task, split, formatter)[:limit]
    device = next(model.parameters()).device
    answers = []
    for start in progress_bar(
        range(0, len(pairs), batch_size), desc=f"answering {task}", leave=False
    ):
        batch = t5_data.pad_batch(pairs[start : start + batch_size], [task])
        for ids in generate(model, batch.input_ids.to(device), MAX_ANSWER_TOKENS[task]):
            answers.append(data.decode(ids))
    return answers


def references(data: t5_data.MultitaskData, task: str, split: str = "test", limit=None) -> list:
    """The target texts of `task` in `split` (for similarity: the scores)."""
    examples = data.tasks[task][split][:limit]
    if task == "similarity":
        return [example["score"] for example in examples]
    return [t5_data.to_text(task, example)[1] for example in examples]


def score(
    task: str, answers: list[str], data: t5_data.MultitaskData, split: str = "test", limit=None
) -> float:
    """The task's metric (0-100) for `answers` to the examples of `split`."""
    expected = references(data, task, split, limit)
    if len(answers) != len(expected):
        raise ValueError(f"{len(answers)} answers for {len(expected)} {task} examples")
    if task == "summarize":
        return metrics.rouge(answers, expected)["rouge1"]
    if task == "similarity":
        default = statistics.mean(example["score"] for example in data.tasks[task]["train"])
        predicted = [t5_data.parse_score(answer, default) for answer in answers]
        return 100 * metrics.pearson(predicted, expected)
    return 100 * metrics.exact_match([a.strip() for a in answers], [e.strip() for e in expected])


def baseline_answers(data: t5_data.MultitaskData, task: str, split: str = "test", limit=None):
    """What the trivial baseline answers to each example of `task` in `split`."""
    examples = data.tasks[task][split][:limit]
    train = data.tasks[task]["train"]
    if task == "translate":
        return [example["english"] for example in examples]
    if task == "summarize":
        return [metrics.first_words(example["article"], 9) for example in examples]
    if task == "topic":
        return [metrics.most_common(e["topic"] for e in train)] * len(examples)
    if task == "question":
        return [metrics.most_common(e["answer"] for e in train)] * len(examples)
    mean = statistics.mean(example["score"] for example in train)
    return [f"{mean:.1f}"] * len(examples)


def task_table(model: T5, data: t5_data.MultitaskData, split: str = "test", limit=None) -> dict:
    """{task: {"metric", "model", "baseline"}} for every task, plus the average row."""
    table = {}
    for task in t5_data.TASKS:
        answers = predict(model, data, task, split, limit=limit)
        table[task] = {
            "metric": METRICS[task],
            "model": score(task, answers, data, split, limit),
            "baseline": score(task, baseline_answers(data, task, split, limit), data, split, limit),
        }
    table["average"] = {
        "metric": "mean of the above",
        "model": statistics.mean(row["model"] for row in table.values()),
        "baseline": statistics.mean(row["baseline"] for row in list(table.values())),
    }
    return table


def format_table(table: dict) -> str:
    lines = [f"{'task':<12}{'metric':<18}{'model':>7}{'baseline':>10}  baseline is"]
    for task, row in table.items():
        lines.append(
            f"{task:<12}{row['metric']:<18}{row['model']:>7.1f}{row['baseline']:>10.1f}"
            f"  {BASELINES.get(task, '')}"
        )
    return "\n".join(lines)


def format_comparison(tables: dict[str, dict]) -> str:
    """Several models' `task_table`s side by side: {model name: table} -> one table, the
    baseline first."""
    names = list(tables)
    first = tables[names[0]]
    width = max(14, *(len(name) + 2 for name in names))
    lines = [
        f"{'task':<12}{'metric':<18}{'baseline':>10}"
        + "".join(f"{name:>{width}}" for name in names)
        + "  baseline is"
    ]
    for task, row in first.items():
        lines.append(
            f"{task:<12}{row['metric']:<18}{row['baseline']:>10.1f}"
            + "".join(f"{tables[name][task]['model']:>{width}.1f}" for name in names)
            + f"  {BASELINES.get(task, '')}"
        )
    return "\n".join(lines)


def accuracy_by_kind(answers: list[str], examples: list[dict]) -> dict[str, float]:
    """The share (0 to 1) of exactly right answers per kind of question: answers[i] answers
    examples[i] ({"question", "answer", "kind"}); spaces at the ends and letter case do not count.
    Kinds in the order they first appear."""
    if len(answers) != len(examples):
        raise ValueError(f"{len(answers)} answers for {len(examples)} questions")
    right: dict[str, int] = {}
    asked: dict[str, int] = {}
    for answer, example in zip(answers, examples, strict=True):
        kind = example["kind"]
        asked[kind] = asked.get(kind, 0) + 1
        correct = answer.strip().lower() == example["answer"].strip().lower()
        right[kind] = right.get(kind, 0) + int(correct)
    return {kind: right[kind] / asked[kind] for kind in asked}
