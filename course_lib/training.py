"""Training: the one loop, `fit(model, batches, ...)`, the schedules, and the recipes.

One loop for every model keeps the notebooks about the models, not about bookkeeping:

    history = fit(model, train_loader, optimizer=torch.optim.Adam(model.parameters()),
                  steps=500, evaluate=lambda m: {"accuracy": accuracy(m, val_loader)},
                  eval_every=100)
    plot_history(history)

What it does each step: move the batch to the device, compute `loss_fn(model, batch)`,
backpropagate, clip gradients (optional), step the optimizer and the scheduler, record the loss.
It stops after `steps`, `epochs` or `max_seconds`, whichever comes first, can evaluate every
`eval_every` steps, shows a progress bar (silenced when COURSE_LIB_QUIET=1, as under test), and
can save a checkpoint and resume from it exactly where it stopped.

The loss contract (`Loss`): `loss_fn(model, batch)` returns a scalar tensor and computes it
through `model(...)`, the model's `forward`. Started by `torchrun` with several processes, `fit`
trains data-parallel with DistributedDataParallel (see `course_lib.distributed`), which averages
the gradients through `forward`: a loss that called another method would train each process on
its own share of the batch, silently.

A recipe (`Recipe`) is how to train, as data: optimizer, learning rate, warm-up, clipping, length.
`train(model, batches, loss_fn, recipe)` runs `fit` with it. The course's recipes are defined here,
so that notebooks that train the same way can say so by name.

On a CUDA GPU `fit` also uses mixed precision (bfloat16 where the GPU supports it, else float16
with loss scaling) and the fast attention path of the course's attention modules; on the CPU, the
reference, everything stays float32 and readable.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypedDict

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from . import distributed
from .device import choose_device

QUIET_ENV_VAR = "COURSE_LIB_QUIET"  # "1" silences progress bars (set by the tests and the grader)


class Loss(Protocol):
    """What `fit` calls each step: `loss_fn(model, batch) -> scalar tensor`, computed through
    `model(...)` (DistributedDataParallel averages gradients through the model's `forward`)."""

    def __call__(self, model: torch.nn.Module, batch: Any, /) -> torch.Tensor: ...


def quiet() -> bool:
    """True when progress bars should stay silent (COURSE_LIB_QUIET is set to a true value)."""
    return os.environ.get(QUIET_ENV_VAR, "").strip().lower() not in ("", "0", "false", "no")


def progress_bar(iterable: Iterable | None = None, **tqdm_kwargs) -> tqdm:
    """A `tqdm.auto` progress bar that respects COURSE_LIB_QUIET."""
    tqdm_kwargs.setdefault("disable", quiet())
    return tqdm(iterable, **tqdm_kwargs)


def to_device(batch: Any, device: torch.device | str) -> Any:
    """Move every tensor in `batch` (a tensor, or nested tuples, lists and dicts) to `device`."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {key: to_device(value, device) for key, value in batch.items()}
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # a namedtuple
        return type(batch)(*(to_device(value, device) for value in batch))
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(value, device) for value in batch)
    return batch


@contextlib.contextmanager
def evaluating(model: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """`with evaluating(model):` the model in eval mode (no dropout) and no gradients recorded;
    its earlier mode comes back afterwards, even when the block raises."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield model
    finally:
        model.train(was_training)


def classification_loss(model: torch.nn.Module, batch: Any) -> torch.Tensor:
    """The default `loss_fn`: `batch` is `(inputs, targets)`; cross-entropy of `model(inputs)`.

    Shapes: logits `(batch, num_classes)` and targets `(batch,)`, or any shapes
    `F.cross_entropy` accepts.
    """
    inputs, targets = batch
    return F.cross_entropy(model(inputs), targets)


# --- what a run records ------------------------------------------------------------------------


@dataclass
class History:
    """What `fit` recorded: the loss at every step and the metrics at every evaluation."""

    steps: list[int] = field(default_factory=list)  # the step number of each loss (1-based)
    losses: list[float] = field(default_factory=list)
    evaluations: list[dict[str, float]] = field(default_factory=list)  # each has a "step" key
    seconds: float = 0.0  # wall time spent training (evaluation time not included)

    def metric(self, name: str) -> tuple[list[int], list[float]]:
        """The steps at which metric `name` was evaluated, and its values."""
        known = sorted({key for record in self.evaluations for key in record} - {"step"})
        if name not in known:
            raise KeyError(f"no metric named {name!r} was recorded; known metrics: {known}")
        pairs = [(record["step"], record[name]) for record in self.evaluations if name in record]
        return [step for step, _ in pairs], [value for _, value in pairs]

    @property
    def last_evaluation(self) -> dict[str, float]:
        """The most recent evaluation (an empty dict before the first one)."""
        return dict(self.evaluations[-1]) if self.evaluations else {}

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> History:
        return cls(**data)


def training_summary(
    history: History, metric: str = "validation exact match", threshold: float = 0.95
) -> dict:
    """Steps, seconds, milliseconds per step, the first evaluated step (and its time) at which
    `metric` reached `threshold` (None if it never did), and the learning curve: `metric` at each
    evaluation, as [step, value] pairs."""
    steps, seconds = history.steps[-1], history.seconds
    reached = [
        step for step, value in zip(*history.metric(metric), strict=True) if value >= threshold
    ]
    first = reached[0] if reached else None
    return {
        "steps": steps,
        "seconds": seconds,
        "ms_per_step": 1000 * seconds / steps,
        "threshold": threshold,
        "steps_to_threshold": first,
        "seconds_to_threshold": None if first is None else seconds * first / steps,
        "curve": [list(point) for point in zip(*history.metric(metric), strict=True)],
    }


@dataclass
class TrainState:
    """Where a run stands: everything `fit` needs to go on, and what a checkpoint keeps."""

    history: History = field(default_factory=History)
    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    epoch_rng_state: torch.Tensor | None = None  # torch's random state when this epoch began

    def record(self, loss: float, seconds: float) -> None:
        """One training step done."""
        self.step += 1
        self.batch_in_epoch += 1
        self.history.steps.append(self.step)
        self.history.losses.append(loss)
        self.history.seconds += seconds

    def end_epoch(self) -> None:
        if self.batch_in_epoch == 0:
            raise ValueError("batches produced no batch: is the dataset empty?")
        self.epoch += 1
        self.batch_in_epoch = 0

    def finished(self, steps: int | None, epochs: int | None, max_seconds: float | None) -> bool:
        return (
            (steps is not None and self.step >= steps)
            or (epochs is not None and self.epoch >= epochs)
            or (max_seconds is not None and self.history.seconds >= max_seconds)
        )

    def save(self, path: Path, model, optimizer, scheduler) -> None:
        """Model, optimizer, scheduler, this state and torch's random state, written atomically
        (a half-written checkpoint is never left behind)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        checkpoint = {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict() if scheduler is not None else None,
            "history": self.history.to_dict(),
            "step": self.step,
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "epoch_rng_state": self.epoch_rng_state,
            "rng_state": torch.get_rng_state(),
        }
        temporary = path.with_name(path.name + ".tmp")
        torch.save(checkpoint, temporary)
        temporary.replace(path)

    @classmethod
    def load(cls, path: Path, model, optimizer, scheduler) -> TrainState:
        """Restore model, optimizer and scheduler from a checkpoint, and torch's random state as
        it was when the checkpoint was saved; returns the run's state."""
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        if scheduler is not None and checkpoint["scheduler"] is not None:
            scheduler.load_state_dict(checkpoint["scheduler"])
        torch.set_rng_state(checkpoint["rng_state"])
        return cls(
            History.from_dict(checkpoint["history"]),
            checkpoint["step"],
            checkpoint["epoch"],
            checkpoint["batch_in_epoch"],
            checkpoint["epoch_rng_state"],
        )


# --- the loop ------------------------------------------------------------------------------------


def fit(
    model: torch.nn.Module,
    batches: Iterable,
    *,
    optimizer: torch.optim.Optimizer,
    loss_fn: Loss = classification_loss,
    steps: int | None = None,
    epochs: int | None = None,
    max_seconds: float | None = None,
    scheduler: Any = None,
    grad_clip: float | None = None,
    evaluate: Callable[[torch.nn.Module], dict[str, float] | float] | None = None,
    eval_every: int | None = None,
    device: torch.device | str | None = None,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int | None = None,
    resume: bool = False,
    desc: str = "training",
    mixed_precision: bool | None = None,
    fast_attention: bool | None = None,
) -> History:
    """Train `model` on `batches` and return its `History`.

    Args:
        batches: re-iterable source of batches (a DataLoader or a list); one pass is one epoch.
        optimizer: already built on `model.parameters()`.
        loss_fn: `loss_fn(model, batch) -> scalar tensor` (see `Loss`); the default is
            `classification_loss`.
        steps, epochs, max_seconds: stop at whichever is reached first (at least one is needed).
        scheduler: stepped once per optimizer step (e.g. a warm-up schedule).
        grad_clip: clip the global gradient norm to this value.
        evaluate: `evaluate(model) -> {"metric": value}` (or a single float), run in eval mode
            without gradients every `eval_every` steps and once at the end.
        device: where to train; by default the best available (`choose_device`).
        checkpoint: a file to save model, optimizer, scheduler, history and random state to,
            every `checkpoint_every` steps and at the end.
        resume: continue from `checkpoint` if that file exists (same batches, same order).
        mixed_precision: autocast to bfloat16 (float16 with loss scaling where bfloat16 is not
            supported); None = on CUDA only.
        fast_attention: switch attention modules that have a fast path (`.fast`) to it; None =
            on CUDA only.
    """
    _validate_fit_arguments(
        batches, steps, epochs, max_seconds, eval_every, checkpoint_every, checkpoint, resume
    )
    device = torch.device(device) if device is not None else choose_device()
    if distributed.launched():
        device = distributed.join(device)
    rank, world_size = distributed.rank_and_size()
    model.to(device)
    checkpoint_path = Path(checkpoint) if checkpoint is not None else None
    resuming = resume and checkpoint_path.exists()
    state = (
        TrainState.load(checkpoint_path, model, optimizer, scheduler) if resuming else TrainState()
    )
    paths_before = {module: module.fast for module in _attention_modules(model)}
    if fast_attention if fast_attention is not None else device.type == "cuda":
        use_fast_attention(model)  # for training only: the model's own setting comes back after
    precision = _Precision(device, mixed_precision)
    trained = distributed.wrap(model, device) if world_size > 1 else model
    total = steps
    if total is None and epochs is not None and hasattr(batches, "__len__"):
        total = epochs * len(batches)
    bar = progress_bar(
        total=total,
        initial=state.step,
        desc=desc,
        unit="step",
        dynamic_ncols=True,
        disable=quiet() or rank != 0,
    )
    model.train()
    try:
        while not state.finished(steps, epochs, max_seconds):
            for batch in _epoch_batches(batches, state, resuming):
                resuming = False
                started = time.perf_counter()
                share = distributed.shard(batch, rank, world_size)
                loss = _training_step(
                    trained,
                    share,
                    loss_fn,
                    optimizer,
                    scheduler,
                    grad_clip,
                    device,
                    precision,
                    state.step + 1,
                )
                loss = distributed.mean_across_processes(loss, device)
                state.record(loss, time.perf_counter() - started)
                bar.update(1)
                if evaluate is not None and eval_every and state.step % eval_every == 0:
                    _evaluate(model, evaluate, state)
                    _show_progress(bar, state.history)
                elif state.step % 10 == 0:
                    _show_progress(bar, state.history)
                if checkpoint_every and state.step % checkpoint_every == 0 and rank == 0:
                    state.save(checkpoint_path, model, optimizer, scheduler)
                if state.finished(steps, epochs, max_seconds):
                    break
            else:  # the epoch ran out of batches
                state.end_epoch()
        if evaluate is not None and state.history.last_evaluation.get("step") != state.step:
            _evaluate(model, evaluate, state)
            _show_progress(bar, state.history)
        if checkpoint_path is not None and rank == 0:
            state.save(checkpoint_path, model, optimizer, scheduler)
    finally:
        bar.close()
        for module, fast in paths_before.items():
            module.fast = fast
    return state.history


def _epoch_batches(batches: Iterable, state: TrainState, resuming: bool) -> Iterator:
    """This epoch's batches. Resuming in the middle of an epoch, the epoch's batch order is drawn
    again exactly as before (from the random state saved when it began), the batches already done
    are skipped, and the random state of the checkpoint is put back (dropout masks and so on)."""
    if resuming and state.batch_in_epoch > 0:
        checkpoint_rng_state = torch.get_rng_state()
        torch.set_rng_state(state.epoch_rng_state)
        iterator = iter(batches)
        for _ in range(state.batch_in_epoch):
            next(iterator)
        torch.set_rng_state(checkpoint_rng_state)
        return iterator
    state.epoch_rng_state = torch.get_rng_state()
    return iter(batches)


def _training_step(
    model, batch, loss_fn, optimizer, scheduler, grad_clip, device, precision, step: int
) -> float:
    """Forward, backward, clip, step: one optimizer step on `batch`; returns the loss."""
    batch = to_device(batch, device)
    with precision.autocast():
        loss = loss_fn(model, batch)
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        got = tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__
        raise TypeError(f"loss_fn must return a scalar tensor (one number), got {got}")
    value = loss.item()
    if not math.isfinite(value):
        raise FloatingPointError(
            f"the loss became {value} at step {step}: try a smaller learning rate or grad_clip"
        )
    optimizer.zero_grad(set_to_none=True)
    precision.backward(loss, optimizer)
    if grad_clip is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    precision.step(optimizer)
    if scheduler is not None:
        scheduler.step()
    return value


def _evaluate(model, evaluate, state: TrainState) -> None:
    with evaluating(model):
        result = evaluate(model)
    state.history.evaluations.append({"step": state.step, **_as_metrics(result)})


def _show_progress(bar: tqdm, history: History) -> None:
    shown = {"train loss": f"{history.losses[-1]:.4g}"} if history.losses else {}
    shown.update(_format(history.last_evaluation))
    bar.set_postfix(shown)


def use_fast_attention(model: torch.nn.Module, fast: bool = True) -> torch.nn.Module:
    """Set `.fast` on every submodule that has a fast attention path (the course's multi-head
    and T5 attention); returns the model."""
    for module in _attention_modules(model):
        module.fast = fast
    return model


def _attention_modules(model: torch.nn.Module) -> list[torch.nn.Module]:
    return [m for m in model.modules() if isinstance(getattr(m, "fast", None), bool)]


class _Precision:
    """Mixed precision for one training run: the autocast context and, for float16, the loss
    scaler (float16's small range would otherwise turn small gradients into zeros). Disabled,
    it changes nothing: the CPU trains in float32."""

    def __init__(self, device: torch.device, wanted: bool | None):
        enabled = wanted if wanted is not None else device.type == "cuda"
        if enabled and device.type != "cuda":
            raise ValueError("mixed_precision=True needs a CUDA device; the CPU trains in float32")
        self.enabled = enabled
        self.dtype = torch.bfloat16 if enabled and torch.cuda.is_bf16_supported() else torch.float16
        use_scaler = enabled and self.dtype == torch.float16
        self.scaler = torch.amp.GradScaler("cuda") if use_scaler else None

    def autocast(self):
        if not self.enabled:
            return contextlib.nullcontext()
        return torch.autocast("cuda", dtype=self.dtype)

    def backward(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
        if self.scaler is None:
            loss.backward()
            return
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(optimizer)  # so that clipping sees the true gradients

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        if self.scaler is None:
            optimizer.step()
            return
        self.scaler.step(optimizer)
        self.scaler.update()


def _as_metrics(result) -> dict[str, float]:
    if isinstance(result, (int, float)) or (
        isinstance(result, torch.Tensor) and result.numel() == 1
    ):
        return {"metric": float(result)}
    if isinstance(result, dict):
        try:
            return {str(name): float(value) for name, value in result.items() if name != "step"}
        except (TypeError, ValueError) as error:
            raise TypeError(f"evaluate must return numbers, got {result!r}") from error
    raise TypeError(
        f"evaluate must return a number or a dict of numbers, got {type(result).__name__}"
    )


def _format(metrics: dict[str, float]) -> dict[str, str]:
    return {name: f"{value:.4g}" for name, value in metrics.items() if name != "step"}


def _validate_fit_arguments(
    batches, steps, epochs, max_seconds, eval_every, checkpoint_every, checkpoint, resume
) -> None:
    if steps is None and epochs is None and max_seconds is None:
        raise ValueError("fit needs a stopping rule: pass steps=, epochs= or max_seconds=")
    for name, value in (
        ("steps", steps),
        ("epochs", epochs),
        ("eval_every", eval_every),
        ("checkpoint_every", checkpoint_every),
    ):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if max_seconds is not None and not max_seconds > 0:
        raise ValueError(f"max_seconds must be positive, got {max_seconds!r}")
    if iter(batches) is batches:
        raise TypeError(
            "batches must be re-iterable (a DataLoader or a list), not a one-shot iterator or "
            "generator: each epoch starts a new pass over it"
        )
    if (resume or checkpoint_every) and checkpoint is None:
        raise ValueError("resume= and checkpoint_every= need checkpoint=PATH")


# --- schedules and recipes ---------------------------------------------------------------------


def warmup_schedule(optimizer: torch.optim.Optimizer, warmup_steps: int):
    """Learning rate rising linearly for `warmup_steps` steps, then decaying as 1/sqrt(step):
    the shape of Vaswani et al.'s schedule (notebook 04), scaled so that the peak is the
    optimizer's lr."""
    if warmup_steps < 1:
        raise ValueError(f"warmup_steps must be at least 1, got {warmup_steps}")

    def factor(step: int) -> float:
        step = step + 1  # LambdaLR starts counting at 0
        return min(step / warmup_steps, math.sqrt(warmup_steps / step))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def warmup_linear_schedule(optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int):
    """Learning rate rising linearly for `warmup_steps` steps to the optimizer's lr, then falling
    linearly to zero at `total_steps` (BERT's and GPT's schedule): a run of a fixed length ends
    with small, careful steps. With 100 and 1,000: 0.01 x lr at step 0, lr at 99, lr / 2 near
    550, 0 from 1,000 on."""
    if not 1 <= warmup_steps < total_steps:
        raise ValueError(
            f"need 1 <= warmup_steps < total_steps, got warmup_steps={warmup_steps}, "
            f"total_steps={total_steps}"
        )

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        return max(0.0, (total_steps - step) / (total_steps - warmup_steps))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


class Recipe(TypedDict, total=False):
    """How to train, as plain data (it prints, compares and saves as a dict). Every key is
    optional; `train` says which combinations it needs.

    steps, epochs: how long (at least one); batch_size: examples per step (used by whoever
    builds the batches); lr: the (peak) learning rate; optimizer: "adam" (the default) or
    "adamw"; weight_decay: AdamW's decoupled weight decay; warmup_steps: the length of
    `warmup_schedule`'s warm-up (no schedule without it); grad_clip: the gradient-norm limit.
    """

    steps: int
    epochs: int
    batch_size: int
    lr: float
    optimizer: str
    weight_decay: float
    warmup_steps: int
    grad_clip: float


# The recipes of the course, by the notebooks that use them.
TRANSLATION_RECIPE = Recipe(steps=1500, batch_size=64, lr=1e-3, grad_clip=1.0)  # 01-04
BERT_PRETRAINING_RECIPE = Recipe(  # 06: AdamW, warm-up, clipping, as BERT was trained
    steps=1000,
    batch_size=64,
    lr=2e-3,
    optimizer="adamw",
    weight_decay=0.01,
    warmup_steps=50,
    grad_clip=1.0,
)
FACTS_PRETRAINING_RECIPE = Recipe(  # 06: MLM on the facts; a longer warm-up makes every seed learn
    {**BERT_PRETRAINING_RECIPE, "steps": 2000, "warmup_steps": 200}
)
FINE_TUNING_RECIPE = Recipe(batch_size=16, optimizer="adamw", weight_decay=0.01)  # 06, 06b
T5_RECIPE = Recipe(lr=3e-3, optimizer="adamw", weight_decay=0.01, warmup_steps=100, grad_clip=1.0)


def adjusted(recipe: Recipe, **changes) -> Recipe:
    """`recipe` with some settings changed (an unknown setting is an error, not ignored)."""
    unknown = set(changes) - set(Recipe.__annotations__)
    if unknown:
        raise TypeError(
            f"unknown recipe settings {sorted(unknown)}; known: {sorted(Recipe.__annotations__)}"
        )
    return Recipe(**{**recipe, **changes})


def train(
    model: torch.nn.Module, batches: Iterable, loss_fn: Loss, recipe: Recipe, **fit_options
) -> History:
    """`fit` as `recipe` says: its optimizer on `model.parameters()`, its warm-up schedule,
    gradient clipping and length; `fit_options` (evaluate, eval_every, device, desc, ...) are
    passed on. Returns `fit`'s History."""
    if "lr" not in recipe:
        raise ValueError(f"the recipe needs a learning rate (lr): {recipe}")
    kind = recipe.get("optimizer", "adam")
    if kind == "adam" and "weight_decay" in recipe:
        raise ValueError("weight_decay goes with optimizer='adamw' (Adam would ignore it here)")
    if kind == "adam":
        optimizer = torch.optim.Adam(model.parameters(), lr=recipe["lr"])
    elif kind == "adamw":
        optimizer = torch.optim.AdamW(
            model.parameters(), lr=recipe["lr"], weight_decay=recipe.get("weight_decay", 0.01)
        )
    else:
        raise ValueError(f"unknown optimizer {kind!r} in the recipe: use 'adam' or 'adamw'")
    warmup = recipe.get("warmup_steps")
    return fit(
        model,
        batches,
        optimizer=optimizer,
        scheduler=warmup_schedule(optimizer, warmup) if warmup else None,
        loss_fn=loss_fn,
        steps=recipe.get("steps"),
        epochs=recipe.get("epochs"),
        grad_clip=recipe.get("grad_clip"),
        **fit_options,
    )
