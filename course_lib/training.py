"""The course's training loop: `fit(model, batches, ...)`, used by every notebook.

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

On a CUDA GPU it also uses mixed precision (bfloat16 where the GPU supports it, else float16 with
loss scaling) and the fast attention path of the course's attention modules; on the CPU, the
reference, everything stays float32 and readable. Started by `torchrun` with several processes,
it trains data-parallel with DistributedDataParallel (see `course_lib.distributed`).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from . import distributed
from .device import choose_device

QUIET_ENV_VAR = "COURSE_LIB_QUIET"  # "1" silences progress bars (set by the tests and the grader)


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


def classification_loss(model: torch.nn.Module, batch: Any) -> torch.Tensor:
    """The default `loss_fn`: `batch` is `(inputs, targets)`; cross-entropy of `model(inputs)`.

    Shapes: logits `(batch, num_classes)` and targets `(batch,)`, or any shapes
    `F.cross_entropy` accepts.
    """
    inputs, targets = batch
    return F.cross_entropy(model(inputs), targets)


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


def fit(
    model: torch.nn.Module,
    batches: Iterable,
    *,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[[torch.nn.Module, Any], torch.Tensor] = classification_loss,
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
        loss_fn: `loss_fn(model, batch) -> scalar tensor`; the default is `classification_loss`.
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
    paths_before = {module: module.fast for module in _attention_modules(model)}
    if fast_attention if fast_attention is not None else device.type == "cuda":
        use_fast_attention(model)  # for training only: the model's own setting comes back after
    precision = _Precision(device, mixed_precision)
    trained = distributed.wrap(model, device) if world_size > 1 else model
    history = History()
    step, epoch, batch_in_epoch = 0, 0, 0
    epoch_rng_state = None  # torch RNG state when this epoch's batch order was drawn

    checkpoint_path = Path(checkpoint) if checkpoint is not None else None
    restored = None
    if resume and checkpoint_path.exists():
        restored = _load_checkpoint(checkpoint_path, model, optimizer, scheduler)
        history = History.from_dict(restored["history"])
        step, epoch, batch_in_epoch = (
            restored["step"],
            restored["epoch"],
            restored["batch_in_epoch"],
        )
        epoch_rng_state = restored["epoch_rng_state"]
        torch.set_rng_state(restored["rng_state"])

    def save() -> None:
        if checkpoint_path is not None and rank == 0:
            _save_checkpoint(
                checkpoint_path,
                model,
                optimizer,
                scheduler,
                history,
                step,
                epoch,
                batch_in_epoch,
                epoch_rng_state,
            )

    def run_evaluation() -> None:
        model.eval()
        with torch.no_grad():
            result = evaluate(model)
        model.train()
        metrics = _as_metrics(result)
        history.evaluations.append({"step": step, **metrics})
        show_progress()

    def show_progress() -> None:
        shown = {"train loss": f"{history.losses[-1]:.4g}"} if history.losses else {}
        shown.update(_format(history.last_evaluation))
        bar.set_postfix(shown)

    def finished() -> bool:
        return (
            (steps is not None and step >= steps)
            or (epochs is not None and epoch >= epochs)
            or (max_seconds is not None and history.seconds >= max_seconds)
        )

    total = steps
    if total is None and epochs is not None and hasattr(batches, "__len__"):
        total = epochs * len(batches)
    bar = progress_bar(
        total=total,
        initial=step,
        desc=desc,
        unit="step",
        dynamic_ncols=True,
        disable=quiet() or rank != 0,
    )
    model.train()
    try:
        while not finished():
            if restored is not None and batch_in_epoch > 0:
                # Redraw this epoch's batch order exactly as before, skip what was done, then
                # restore the random state the checkpoint had (dropout masks and so on).
                torch.set_rng_state(epoch_rng_state)
                iterator = iter(batches)
                for _ in range(batch_in_epoch):
                    next(iterator)
                torch.set_rng_state(restored["rng_state"])
            else:
                epoch_rng_state = torch.get_rng_state()
                iterator = iter(batches)
            restored = None
            for batch in iterator:
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
                    step + 1,
                    precision,
                )
                loss = distributed.mean_across_processes(loss, device)
                history.seconds += time.perf_counter() - started
                step += 1
                batch_in_epoch += 1
                history.steps.append(step)
                history.losses.append(loss)
                bar.update(1)
                if evaluate is not None and eval_every and step % eval_every == 0:
                    run_evaluation()
                elif step % 10 == 0:
                    show_progress()
                if checkpoint_every and step % checkpoint_every == 0:
                    save()
                if finished():
                    break
            else:  # the epoch ran out of batches
                if batch_in_epoch == 0:
                    raise ValueError("batches produced no batch: is the dataset empty?")
                epoch += 1
                batch_in_epoch = 0
        if evaluate is not None and (
            not history.evaluations or history.evaluations[-1]["step"] != step
        ):
            run_evaluation()
        save()
    finally:
        bar.close()
        for module, fast in paths_before.items():
            module.fast = fast
    return history


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
    scaler (float16's small range would otherwise turn small gradients into zeros)."""

    def __init__(self, device: torch.device, wanted: bool | None):
        enabled = wanted if wanted is not None else device.type == "cuda"
        if enabled and device.type != "cuda":
            raise ValueError("mixed_precision=True needs a CUDA device; the CPU trains in float32")
        self.enabled = enabled
        self.dtype = torch.bfloat16 if enabled and torch.cuda.is_bf16_supported() else torch.float16
        use_scaler = enabled and self.dtype == torch.float16
        self.scaler = torch.amp.GradScaler("cuda") if use_scaler else None

    def autocast(self):
        return torch.autocast("cuda", dtype=self.dtype, enabled=self.enabled)


def _training_step(
    model, batch, loss_fn, optimizer, scheduler, grad_clip, device, step, precision=None
) -> float:
    batch = to_device(batch, device)
    scaler = precision.scaler if precision is not None else None
    if precision is not None and precision.enabled:
        with precision.autocast():
            loss = loss_fn(model, batch)
    else:
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
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
    else:
        loss.backward()
    if grad_clip is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    if scheduler is not None:
        scheduler.step()
    return value


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


def _save_checkpoint(
    path: Path, model, optimizer, scheduler, history, step, epoch, batch_in_epoch, epoch_rng_state
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "history": history.to_dict(),
        "step": step,
        "epoch": epoch,
        "batch_in_epoch": batch_in_epoch,
        "epoch_rng_state": epoch_rng_state,
        "rng_state": torch.get_rng_state(),
    }
    temporary = path.with_name(path.name + ".tmp")
    torch.save(state, temporary)
    temporary.replace(path)  # never leave a half-written checkpoint behind


def _load_checkpoint(path: Path, model, optimizer, scheduler) -> dict:
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state["scheduler"] is not None:
        scheduler.load_state_dict(state["scheduler"])
    return state
