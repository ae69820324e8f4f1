"""The instructors' guide, `docs/instructors.md`, generated so that it stays true:
`python -m course_lib build-guide [--check]`.

What is generated, and from where:
- per lab: objectives and estimated time (the notebook's first cell), what the finished notebook
  shows (the headline results it records, from the benchmark), the run time of its cells on a
  CPU (the benchmark), its exercises with points (the solutions notebook's nbgrader metadata);
- per exercise: every mistake its checker recognises, with the hint a learner gets (the
  checker's catalogue, `checker.mistakes`);
- the discussion questions below (written here, two or three per lab, with short answers);
- how to release, grade, return feedback and import grades, and what the grader protects against.

A test rebuilds the guide and fails when the file differs (the guide is stale).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from .catalog import CATALOG
from .course import load_course
from .paths import BENCHMARKS_DIR, COURSE_ROOT, SOLUTIONS_DIR

GUIDE = COURSE_ROOT / "docs" / "instructors.md"

QUESTIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "00_orientation": (
        (
            "Why does softmax subtract the maximum before exponentiating, and why does that not "
            "change the result?",
            "exp(1000) overflows to inf, and inf / inf is nan. softmax(x) equals softmax(x - c) "
            "for any constant c along the normalised axis, so subtracting the maximum keeps every "
            "exponent at or below 0 and the probabilities the same.",
        ),
        (
            "Why does every result in the course come with a trivial baseline?",
            "A score means little until you know what a model that learned nothing gets: 90% "
            "accuracy is poor when 90% of the labels are one class.",
        ),
    ),
    "01_rnn_baselines": (
        (
            "Why do gradients vanish in a plain RNN over long distances, and what do the gates "
            "of a GRU or an LSTM change?",
            "Backpropagation multiplies by the recurrent Jacobian once per step; with tanh and "
            "modest weights the product shrinks geometrically. Gates add a path that is mostly "
            "an interpolation with (GRU) or an addition to (LSTM cell) the previous state, "
            "along which the gradient shrinks far less.",
        ),
        (
            "What is the encoder–decoder's bottleneck, and how does the notebook show it?",
            "The whole source must fit in one fixed-size vector; exact match falls as the inputs "
            "get longer. Attention (notebook 02) lets the decoder look at every encoder state.",
        ),
        (
            "Self-attention does more multiply-adds per layer than a GRU on long inputs. Why can "
            "it still train faster?",
            "Its work is a few large matrix products with no step-by-step dependency (one "
            "sequential step instead of L), which parallel hardware does well, and any two "
            "positions are one step apart instead of up to L.",
        ),
    ),
    "02_attention": (
        (
            "Why scale the dot products by 1/sqrt(d)?",
            "With unit-variance inputs, q·k has variance d: large scores push the softmax to "
            "nearly one-hot outputs with tiny gradients. Dividing by sqrt(d) keeps the variance "
            "near 1.",
        ),
        (
            "Padding mask or causal mask: which is for what?",
            "A padding mask hides the padded keys of shorter sequences in any attention over a "
            "batch; a causal mask hides later positions in a decoder's self-attention, so that "
            "training sees what generation will see.",
        ),
        (
            "What do the translator's attention heatmaps show, and what do they not prove?",
            "Which source words each output word weighs most (a rough alignment). They are not "
            "an explanation: the output also depends on values with small weights and on the "
            "rest of the network.",
        ),
    ),
    "03_multi_head_attention": (
        (
            "Why several heads of size d/h rather than one head of size d?",
            "About the same cost, but one softmax gives one weighted average per query; h heads "
            "can each attend to a different position or pattern, and their outputs are combined "
            "by the output projection.",
        ),
        (
            "In the head ablation, why does silencing two heads cost far more than the two "
            "costs added?",
            "The heads are partly redundant: with one silenced, another covers for it; with "
            "both silenced the backup is gone too.",
        ),
    ),
    "04_transformer": (
        (
            "Post-norm or pre-norm: what changes, and why does pre-norm train deep stacks more "
            "easily?",
            "Pre-norm normalises the input of each sublayer and leaves the residual path an "
            "identity from the first layer to the last, so gradients reach early layers "
            "undiminished; post-norm normalises after the addition and leans on warm-up.",
        ),
        (
            "Why layer norm and not batch norm in sequence models?",
            "Layer norm uses each token's own features: no dependence on the batch, on padding "
            "or on sequence lengths, and the same computation in training and at inference.",
        ),
        (
            "What do warm-up and label smoothing each prevent?",
            "Warm-up: large early updates while Adam's moment estimates are still poor, which can "
            "derail training. Label smoothing: over-confident outputs; the model keeps some "
            "probability for other tokens, which helps beam search and calibration.",
        ),
    ),
    "04b_transformer_vs_gru": (
        (
            "Why compare at equal seconds as well as at equal steps?",
            "A step costs each model a different time, and the cost depends on the hardware and "
            "the batch; a budget is spent in seconds, so quality per second is the fair "
            "comparison for a fixed budget.",
        ),
        (
            "The GRU with attention is ahead at equal steps on this task. What would move the "
            "balance towards the Transformer?",
            "Longer sequences, more data and parallel hardware: its steps parallelise across "
            "positions and its path between positions is one step long.",
        ),
    ),
    "05_transformer_summarizer": (
        (
            "Why does the loss cover the summary tokens only?",
            "The name and description are given at generation time; predicting them teaches "
            "copying the prompt, not summarising. Notebook 05c measures the alternative.",
        ),
        (
            "Why compare with first-words and name baselines?",
            "Many one-line summaries restate the first words of the description: a model has "
            "to beat copying to show it summarises.",
        ),
    ),
    "05b_summarizer_decoding": (
        (
            "Why does greedy decoding loop, and what do sampling and n-gram blocking each cost?",
            "Greedy takes the most likely token each time and can fall into a cycle. Sampling "
            "adds variety and errors (top-k and top-p cut off the unreliable tail); blocking "
            "repeated n-grams also forbids a repeat the summary needs.",
        ),
        (
            "What does the temperature do at its extremes?",
            "Towards 0, sampling becomes greedy (the largest logit wins); towards infinity, "
            "every token becomes equally likely.",
        ),
    ),
    "05c_summary_or_every_token": (
        (
            "Loss on every token or on the summary only, at equal compute: what is traded?",
            "Every token gives more training signal per example (a language model of the "
            "descriptions too) but spends capacity on predicting the prompt; the summary-only "
            "loss spends it all on the task. ROUGE at equal compute decides.",
        ),
        (
            "Why can't the two loss curves' heights be compared?",
            "Each averages over different tokens: the summary tokens alone, or every token, "
            "most of which are easier or harder to predict than a summary.",
        ),
    ),
    "06_bert_pretraining": (
        (
            "What does masked LM's 80/10/10 rule protect against?",
            "[MASK] never occurs when the model is fine-tuned; replacing some chosen tokens with "
            "random or unchanged ones makes the model build a good representation of every "
            "token, not only of [MASK] positions.",
        ),
        (
            "Why mask whole facts in the facts corpus?",
            "Masking one piece of a multi-token fact lets the model copy it from the other "
            "pieces; masking the whole span makes it recall the fact.",
        ),
        (
            "Static or contextual vectors: what does the 'bank' example show?",
            "word2vec gives a word one vector whatever its sense; MiniLM's vector depends on "
            "the sentence, so two uses in the same sense are closer than two in different senses.",
        ),
    ),
    "06b_bert_real_weights": (
        (
            "With 200 labelled sentences, when can frozen features and logistic regression "
            "match fine-tuning?",
            "With little data, fine-tuning millions of weights is noisy and overfits easily; "
            "frozen features with a linear model are cheap and stable. Fine-tuning pulls ahead "
            "as the data grows.",
        ),
        (
            "How does distillation make a model like MiniLM small?",
            "A small student is trained to match a large teacher's outputs (for MiniLM, its "
            "self-attention distributions), keeping much of its quality with a fraction of the "
            "parameters.",
        ),
    ),
    "07_t5_multitask": (
        (
            "How can one model do five different tasks?",
            "Every task is text in, text out; a prefix names the task. One architecture, one "
            "loss and one decoding procedure serve them all.",
        ),
        (
            "What does T5's relative position bias give that absolute positions do not?",
            "Attention depends on the offset between query and key, in buckets that grow "
            "logarithmically with distance, learned per head; beyond the last bucket every "
            "distance looks the same.",
        ),
    ),
    "07b_t5_one_model_five_tasks": (
        (
            "Why cap examples-proportional mixing, or use a temperature?",
            "Otherwise the largest task fills almost every batch and the small ones are barely "
            "seen; a cap or a temperature flattens the mixture.",
        ),
        (
            "Why does summarisation lag in this multitask run while translation does well?",
            "Summarisation needs many more steps than it gets as one task among several in a "
            "short run; notebook 05's decoder needed all of its steps on that one task to pass "
            "the first-words baseline.",
        ),
    ),
    "07c_t5_pretraining_or_not": (
        (
            "Why does the model trained from scratch answer the closed-book questions at the "
            "level of the most frequent answer?",
            "The questions are about countries no training question mentions: only the "
            "pretraining on the facts corpus put those facts into the weights.",
        ),
        (
            "Which tasks gain least from pretraining here, and why?",
            "Tasks whose answer is in the input (translation of number words, similarity of "
            "two phrases) can be learned from their own examples; pretraining helps most where "
            "knowledge from elsewhere is needed.",
        ),
    ),
    "08_hugging_face": (
        (
            "What does `Trainer` do that the course's `fit` loop also does, and what does it add?",
            "Both batch, step an optimizer and evaluate. Trainer adds a learning-rate schedule "
            "by default, logging, checkpoints, mixed precision and multi-device training "
            "through accelerate.",
        ),
        (
            "Why pad in the collate function rather than once for the whole dataset?",
            "Each batch is padded only to its own longest example, so less computation is "
            "spent on padding.",
        ),
    ),
    "08b_trainer_gap": (
        (
            "How do you find which default explains a gap between two training setups?",
            "Change one thing at a time (pooling, learning-rate schedule), keep the data folds "
            "and seeds fixed, and compare with the spread over folds, not single numbers.",
        ),
        (
            "Why report a spread over folds?",
            "With 200 examples, one split's score moves by several points from chance alone; "
            "a difference smaller than the spread is not evidence.",
        ),
    ),
}

GENERAL_DIAGNOSES = (
    "not implemented yet (`raise NotImplementedError()` still there)",
    "the function returns nothing (a missing `return`) or something other than a tensor",
    "the signature differs from the exercise's",
    "an input changed in place",
    "the output cut off from autograd (`.item()`, `.numpy()`, `torch.tensor(...)`), or an in-place "
    "operation that breaks backpropagation",
    "a wrong dtype or device",
    "a wrong shape, in words: two axes swapped, an axis missing (a reduction without "
    "`keepdim=True`) or extra, one axis off by one, the values in another shape",
    "a wrong value with the right shape, in words: the sign flipped, every value off by one "
    "factor or one offset, logarithms or exponentials of the expected values, the last two axes "
    "swapped",
    "an error the learner's code raises that one of the catalogue's mistakes also raises",
)


def _first_cell(notebook: dict) -> str:
    return "".join(notebook["cells"][0]["source"])


def _estimated_time(first: str) -> str:
    found = re.search(r"\*\*Estimated time:\*\*\s*(.+)", first)
    return found.group(1).strip() if found else "not stated"


def _objectives(first: str) -> list[str]:
    """The bullets under "By the end of this notebook you will", joined across line breaks."""
    after = first.split("**By the end of this notebook you will**", 1)
    if len(after) < 2:
        return []
    bullets, current = [], None
    for line in after[1].strip().splitlines():
        if line.startswith("- "):
            current = line[2:].strip()
            bullets.append(current)
        elif line.startswith("  ") and bullets:
            bullets[-1] += " " + line.strip()
        elif not line.strip():
            break
    return bullets


def _checker_of(source: str) -> str | None:
    found = re.search(r"\bcheck\.([a-z_0-9]+)\(", source)
    return found.group(1) if found else None


def _benchmark() -> dict:
    path = BENCHMARKS_DIR / "notebooks.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {"rows": []}


def build_guide(solutions_dir: Path = SOLUTIONS_DIR) -> str:
    """The whole guide, as Markdown."""
    from course_lib import check  # noqa: PLC0415 - PyTorch: only for the one command that needs it

    course = load_course(solutions_dir)
    benchmark = _benchmark()
    rows = {row["notebook"]: row for row in benchmark.get("rows", [])}
    lines = [
        "# Instructors' guide",
        "",
        "<!-- Generated by `python -m course_lib build-guide` from the solutions notebooks, the "
        "checkers' catalogues, the benchmark and course_lib/machinery/guide.py; do not edit by "
        "hand (a test fails when this file is stale). -->",
        "",
        *_running_the_course(),
        "## The labs",
        "",
        f"Run times are of the solutions notebook executed headless on {benchmark.get('machine')}"
        " (the README's table, from `python -m course_lib.machinery.bench --notebooks`); "
        "learners also spend the estimated time reading and writing.",
        "",
        "Every tensor check, besides its own catalogue below, recognises: "
        + "; ".join(GENERAL_DIAGNOSES)
        + ".",
        "",
    ]
    for entry in CATALOG:
        notebook = json.loads((solutions_dir / f"{entry.notebook}.ipynb").read_text("utf-8"))
        first = _first_cell(notebook)
        row = rows.get(entry.notebook, {})
        exercises = course[entry.notebook].exercises
        lines += [f"### {entry.number} · {entry.title}", ""]
        lines += [f"- **Estimated time:** {_estimated_time(first)}"]
        seconds = row.get("seconds")
        lines += [f"- **Run time of its cells (CPU):** {seconds:.0f} s" if seconds else ""]
        points = sum(exercise.points for exercise in exercises)
        lines += [f"- **Graded exercises:** {len(exercises)}, {points:g} points", ""]
        lines += ["**Objectives.**", ""] + [f"- {item}" for item in _objectives(first)] + [""]
        results = row.get("results", [])
        if results:
            lines += ["**What the finished notebook shows** (its recorded headline results):", ""]
            for result in results:
                baseline = (
                    f" against {result['baseline']:g} for {result['baseline_name']}"
                    if result.get("baseline") is not None
                    else ""
                )
                lines += [f"- {result['task']}: {result['metric']} {result['value']:g}{baseline}"]
            lines += [""]
        lines += ["**Exercises, and the mistakes their checks recognise.**", ""]
        for exercise in exercises:
            name = entry.exercises.get(exercise.grade_id, exercise.grade_id)
            checker = _checker_of(exercise.source)
            lines += [
                f"- *{name}* (`{exercise.grade_id}`, {exercise.points:g} points, "
                f"`check.{checker}`):"
            ]
            mistakes = getattr(getattr(check, checker or "", None), "mistakes", [])
            hints = list(dict.fromkeys(mistake.hint for mistake in mistakes))
            lines += [f"  - {' '.join(hint.split())}" for hint in hints]
        lines += ["", "**Discussion questions.**", ""]
        for number, (question, answer) in enumerate(QUESTIONS[entry.notebook], start=1):
            lines += [f"{number}. {question}", f"   *Answer:* {answer}"]
        lines += [""]
    return "\n".join(lines).rstrip() + "\n"


def _running_the_course() -> list[str]:
    return [
        "## Running the course",
        "",
        "**Release the student notebooks.** `solutions/` is the only source. "
        "`python -m course_lib build-notebooks` writes `notebooks/` from it (solution code "
        "becomes `# YOUR CODE HERE` + `raise NotImplementedError()`, hidden tests are removed, "
        "outputs cleared); `--check` fails when `notebooks/` is stale. The cells carry "
        "nbgrader's metadata and markers, so an nbgrader course can take `solutions/` as its "
        "source folder and release it with `nbgrader generate_assignment` instead: with nbgrader "
        "0.9.6 that gives the same cells with the same sources as `notebooks/` (checked on all "
        "16 notebooks), plus nbgrader's own checksums and read-only flags in the cells' "
        "metadata. nbgrader is not a dependency of the course; `python -m course_lib grade` "
        "does not need it.",
        "",
        "**Grade a folder of submissions.** One file per submission, any layout; name each "
        "student's folder after their login in your LMS:",
        "",
        "```bash",
        ".venv/bin/python -m course_lib grade submissions/ --json grades.json --csv grades.csv "
        "--feedback feedback/",
        "```",
        "",
        "Each submission runs in a fresh kernel with a time limit per cell (`--timeout`) and per "
        "submission (`--max-seconds`) and a memory cap (`--memory`); checks are the grader's "
        "own copies, hidden tests included. `--feedback` writes one Markdown file per "
        "submission to hand back: per exercise the points, the failing case and the hint, "
        "never the hidden tests' code.",
        "",
        "**Into a gradebook.** `grades.csv` has one row per submission: `submission` (its path "
        "in the folder, so `alice/02_attention.ipynb` names the student), `notebook`, `status` "
        "(`graded` or `error`), `score`, `max_score`, `error`, `flags`, then points and "
        "feedback per exercise. Most LMS gradebooks (Canvas, Moodle, Blackboard) import a CSV "
        "keyed by a student column: split `submission` at the first `/` into the login, and "
        "import `score` (out of `max_score`) as the assignment's grade. Cells are written so "
        "that spreadsheets do not read feedback as formulas.",
        "",
        "**What the grader protects against, and what it does not.** Checks earn points only "
        "through the grader's own signed channel, from checkers snapshotted before any of the "
        "submission's cells ran: a patched checker, a patched `torch`, a fake `course_lib` or "
        "a forged ✅ earns nothing. Processes a submission starts are ended before reports are "
        "written, reports are written atomically, kernels import a copy of the course, and "
        "memory and time are capped. A submission still runs with your rights: grade in a "
        "container or as an unprivileged user. Code written against the grader on purpose "
        "(digging in memory, calling the course's reference implementation) cannot be fully "
        "stopped in-process; it is flagged in the `flags` column for you to read. The README's "
        "grader section has the details.",
        "",
        "**Learners' own view.** `python -m course_lib progress` grades a learner's notebooks "
        "(cached when unchanged) and prints exercises passed, points and the next exercise "
        "with its hint.",
        "",
    ]


def stale(solutions_dir: Path = SOLUTIONS_DIR, path: Path = GUIDE) -> bool:
    return not path.exists() or path.read_text(encoding="utf-8") != build_guide(solutions_dir)


def write_guide(solutions_dir: Path = SOLUTIONS_DIR, path: Path = GUIDE) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(build_guide(solutions_dir), encoding="utf-8")
    return path
