"""Plots a learner would rather look at than read: training curves, attention heatmaps, and
accuracy by sentence length."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from .training import History


def smooth(values: Sequence[float], window: int) -> np.ndarray:
    """Moving average over the last `window` values (shorter at the start), same length."""
    values = np.asarray(values, dtype=float)
    if window <= 1 or len(values) == 0:
        return values
    cumulative = np.cumsum(np.insert(values, 0, 0.0))
    counts = np.minimum(np.arange(1, len(values) + 1), window)
    starts = np.arange(1, len(values) + 1) - counts
    return (cumulative[np.arange(1, len(values) + 1)] - cumulative[starts]) / counts


def plot_history(
    history: History,
    *,
    smooth_window: int | None = None,
    title: str | None = None,
    log_loss: bool = False,
) -> plt.Figure:
    """Training loss (raw and smoothed) and, beside it, every evaluated metric against steps."""
    if not history.losses:
        raise ValueError("the history is empty: train for at least one step first")
    metric_names = sorted({key for record in history.evaluations for key in record} - {"step"})
    columns = 2 if metric_names else 1
    figure, axes = plt.subplots(1, columns, figsize=(5.5 * columns, 3.6), squeeze=False)
    loss_axis = axes[0, 0]
    window = smooth_window or max(1, len(history.losses) // 50)
    loss_axis.plot(history.steps, history.losses, color="tab:blue", alpha=0.25, label="per step")
    loss_axis.plot(
        history.steps,
        smooth(history.losses, window),
        color="tab:blue",
        label=f"moving average ({window})",
    )
    loss_axis.set(xlabel="step", ylabel="training loss", title="loss")
    if log_loss:
        loss_axis.set_yscale("log")
    loss_axis.legend()
    if metric_names:
        metric_axis = axes[0, 1]
        for name in metric_names:
            metric_axis.plot(*history.metric(name), marker="o", label=name)
        metric_axis.set(xlabel="step", title="evaluation")
        metric_axis.legend()
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return figure


def plot_attention(
    weights: torch.Tensor | np.ndarray,
    query_labels: Sequence[str] | None = None,
    key_labels: Sequence[str] | None = None,
    *,
    ax: plt.Axes | None = None,
    title: str | None = None,
) -> plt.Axes:
    """Heatmap of attention weights `(num_queries, num_keys)`: row i is where query i looks.

    Labels, if given, must match the number of rows (queries) and columns (keys).
    """
    if isinstance(weights, torch.Tensor):
        weights = weights.detach().float().cpu().numpy()
    weights = np.asarray(weights)
    if weights.ndim != 2:
        raise ValueError(
            f"weights must be 2-D (num_queries, num_keys), got shape {tuple(weights.shape)}: "
            "pick one example and one head first, e.g. weights[0, head]"
        )
    for name, labels, size, axis_name in (
        ("query_labels", query_labels, weights.shape[0], "rows"),
        ("key_labels", key_labels, weights.shape[1], "columns"),
    ):
        if labels is not None and len(labels) != size:
            raise ValueError(f"{name} has {len(labels)} labels but weights has {size} {axis_name}")
    if ax is None:
        height, width = weights.shape
        _, ax = plt.subplots(figsize=(min(12, 1.5 + 0.45 * width), min(12, 1.2 + 0.45 * height)))
    image = ax.imshow(weights, cmap="viridis", vmin=0.0, aspect="auto")
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    if key_labels is not None:
        ax.set_xticks(range(len(key_labels)), key_labels, rotation=60, ha="right")
    if query_labels is not None:
        ax.set_yticks(range(len(query_labels)), query_labels)
    ax.set(xlabel="keys (attended to)", ylabel="queries")
    if title:
        ax.set_title(title)
    return ax


def plot_accuracy_by_length(
    reports: dict, ax: plt.Axes | None = None, title: str = "exact match by source length"
) -> plt.Axes:
    """One line per model: exact-match accuracy in each source-length bucket. `reports` maps a
    model's name to its `seq2seq.TranslationReport` (anything with a `by_length` dict of bucket
    label -> accuracy)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    for name, report in reports.items():
        labels = list(report.by_length)
        ax.plot(labels, [100 * report.by_length[label] for label in labels], marker="o", label=name)
    ax.set(xlabel="source length (tokens)", ylabel="exact match (%)", ylim=(-3, 103), title=title)
    ax.legend()
    return ax


def plot_mask(
    mask: torch.Tensor,
    query_labels: Sequence[str] | None = None,
    key_labels: Sequence[str] | None = None,
    *,
    ax: plt.Axes | None = None,
    title: str | None = None,
) -> plt.Axes:
    """A boolean mask (num_queries, num_keys) as a grid: row i shows the keys query i may attend
    to (filled) and those it may not (empty)."""
    mask = torch.as_tensor(mask).detach().cpu()
    if mask.dim() != 2 or mask.dtype != torch.bool:
        raise ValueError(
            f"mask must be a 2-D boolean tensor (num_queries, num_keys), got shape "
            f"{tuple(mask.shape)} and dtype {mask.dtype}: pick one sentence first, e.g. mask[0]"
        )
    if ax is None:
        height, width = mask.shape
        _, ax = plt.subplots(figsize=(min(8, 1 + 0.4 * width), min(8, 1 + 0.4 * height)))
    ax.imshow(mask.numpy(), cmap="Blues", vmin=0, vmax=1.25, aspect="equal")
    ax.set_xticks(np.arange(-0.5, mask.shape[1]), minor=True)
    ax.set_yticks(np.arange(-0.5, mask.shape[0]), minor=True)
    ax.grid(which="minor", color="white", linewidth=1.5)
    ax.tick_params(which="minor", length=0)
    ax.set_xticks(
        range(mask.shape[1]), key_labels if key_labels is not None else range(mask.shape[1])
    )
    ax.set_yticks(
        range(mask.shape[0]), query_labels if query_labels is not None else range(mask.shape[0])
    )
    ax.set(xlabel="keys", ylabel="queries")
    if title:
        ax.set_title(title)
    return ax
