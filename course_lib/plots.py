"""Plots a learner would rather look at than read: training curves (one run or several),
attention heatmaps (one map or a grid of layers and heads), masks, accuracy by sentence length,
bar charts beside a baseline, and a learned relative position bias. (Architecture figures are in
`diagrams`.)"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.ticker import MaxNLocator

from .training import History


def _as_array(values: torch.Tensor | np.ndarray) -> np.ndarray:
    """A tensor (on any device, with or without gradient) or array-like as a NumPy array."""
    if isinstance(values, torch.Tensor):
        return values.detach().float().cpu().numpy()
    return np.asarray(values)


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
    weights = _as_array(weights)
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


def plot_losses(
    histories: dict[str, History],
    *,
    smooth_window: int | None = None,
    ax: plt.Axes | None = None,
    title: str = "training loss",
    log_loss: bool = False,
) -> plt.Axes:
    """Several runs' training loss (moving averages) against steps on one axes: {run name:
    History}."""
    if not histories:
        raise ValueError("give at least one run: {name: History}")
    empty = [name for name, history in histories.items() if not history.losses]
    if empty:
        raise ValueError(f"no loss recorded for {empty}: train for at least one step first")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.6))
    for name, history in histories.items():
        window = smooth_window or max(1, len(history.losses) // 50)
        ax.plot(history.steps, smooth(history.losses, window), label=name)
    ax.set(xlabel="step", ylabel="training loss (moving average)", title=title)
    if log_loss:
        ax.set_yscale("log")
    ax.legend(loc="upper right")  # loss curves start high on the left
    return ax


def plot_heads(
    weights: torch.Tensor | np.ndarray,
    query_labels: Sequence[str] | None = None,
    key_labels: Sequence[str] | None = None,
    *,
    row_names: Sequence[str] | None = None,
    title: str | None = None,
) -> plt.Figure:
    """A grid of attention maps, weights (rows, heads, num_queries, num_keys): one row per layer
    (or per kind of attention), one column per head, on one colour scale from 0 to 1."""
    weights = _as_array(weights)
    if weights.ndim != 4:
        raise ValueError(
            f"weights must be 4-D (rows, heads, num_queries, num_keys), got shape "
            f"{tuple(weights.shape)}: stack the layers' weights of one example, e.g. "
            "torch.stack([w[0] for w in per_layer])"
        )
    rows, heads, queries, keys = weights.shape
    if row_names is not None and len(row_names) != rows:
        raise ValueError(f"row_names has {len(row_names)} names but weights has {rows} rows")
    for name, labels, size in (
        ("query_labels", query_labels, queries),
        ("key_labels", key_labels, keys),
    ):
        if labels is not None and len(labels) != size:
            raise ValueError(f"{name} has {len(labels)} labels for {size} positions")
    cell = min(3.2, max(1.6, 0.22 * max(queries, keys)))
    figure, axes = plt.subplots(
        rows, heads, figsize=(cell * heads + 1, cell * rows + 0.6), squeeze=False
    )
    for row in range(rows):
        for head in range(heads):
            ax = axes[row, head]
            image = ax.imshow(weights[row, head], cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
            show_columns = key_labels is not None and row == rows - 1  # under the last row only
            ax.set_xticks(
                range(keys),
                key_labels if show_columns else [""] * keys,
                rotation=90,
                fontsize=7,
            )
            show_rows = query_labels is not None and head == 0
            ax.set_yticks(range(queries), query_labels if show_rows else [""] * queries, fontsize=7)
            if row == 0:
                ax.set_title(f"head {head}", fontsize=9)
            if head == 0 and row_names is not None:
                ax.set_ylabel(row_names[row], fontsize=9)
    figure.colorbar(image, ax=axes, fraction=0.02, pad=0.02)
    if title:
        figure.suptitle(title)
    return figure


def plot_bars(
    values: dict[str, float],
    *,
    errors: dict[str, float] | None = None,
    reference: float | None = None,
    reference_label: str = "baseline",
    ax: plt.Axes | None = None,
    title: str | None = None,
    ylabel: str | None = None,
) -> plt.Axes:
    """One bar per name ({name: value}), with optional error bars ({name: spread}) and a dashed
    horizontal line at `reference` (a baseline, or the score with nothing removed)."""
    if not values:
        raise ValueError("values is empty: give {name: value}")
    unknown = set(errors or {}) - set(values)
    if unknown:
        raise ValueError(f"errors for names that have no value: {sorted(unknown)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(max(4, 0.75 * len(values) + 2), 3.4))
    names = list(values)
    spreads = [errors.get(name, 0.0) for name in names] if errors else None
    ax.bar(
        range(len(names)),
        [values[name] for name in names],
        yerr=spreads,
        capsize=4,
        color="tab:blue",
        alpha=0.8,
    )
    ax.set_xticks(
        range(len(names)),
        [_wrapped(name) for name in names],
        rotation=30 if len(names) > 6 else 0,
        ha="right" if len(names) > 6 else "center",
    )
    if reference is not None:
        ax.axhline(reference, color="tab:red", linestyle="--", label=reference_label)
        ax.legend()
    ax.set(ylabel=ylabel, title=title)
    return ax


def _wrapped(label: str, width: int = 16) -> str:
    """A bar's label on several short lines, so that neighbouring labels do not overlap."""
    return "\n".join(
        textwrap.fill(line, width, break_long_words=False) for line in label.split("\n")
    )


def plot_position_bias(
    distances: Sequence[int], bias: torch.Tensor | np.ndarray, *, title: str | None = None
) -> plt.Axes:
    """A learned relative position bias (T5): bias (heads, len(distances)), what each head adds
    to the score of a key `distance` positions from the query (key - query), as a heatmap."""
    bias = _as_array(bias)
    if bias.ndim != 2 or bias.shape[1] != len(distances):
        raise ValueError(
            f"bias must be (heads, {len(distances)}) for {len(distances)} distances, got shape "
            f"{tuple(bias.shape)}"
        )
    _, ax = plt.subplots(figsize=(8, 0.5 * bias.shape[0] + 1.4))
    limit = float(np.abs(bias).max()) or 1.0
    image = ax.imshow(
        bias,
        interpolation="nearest",  # one block per distance, even when there are hundreds
        cmap="coolwarm",
        vmin=-limit,
        vmax=limit,
        aspect="auto",
        extent=(distances[0] - 0.5, distances[-1] + 0.5, bias.shape[0] - 0.5, -0.5),
    )
    ax.figure.colorbar(image, ax=ax, fraction=0.03, pad=0.02, label="added to the score")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(
        xlabel="relative position of the key (key - query)",
        ylabel="head",
        yticks=range(bias.shape[0]),
        title=title,
    )
    return ax


def plot_grouped_bars(
    series: dict[str, dict[str, float]],
    *,
    baselines: dict[str, float] | None = None,
    ax: plt.Axes | None = None,
    title: str | None = None,
    ylabel: str | None = None,
) -> plt.Axes:
    """Bars side by side for several series over the same names: {series: {name: value}} (e.g.
    {"pretrained": {"translate": 94.7, ...}, "from scratch": {...}}), with an optional baseline per
    name drawn as a black line across its group."""
    if not series:
        raise ValueError("series is empty: give {series name: {name: value}}")
    names = list(next(iter(series.values())))
    for label, values in series.items():
        if list(values) != names:
            raise ValueError(
                f"every series needs the same names in the same order: {label!r} has "
                f"{list(values)}, the first has {names}"
            )
    if ax is None:
        _, ax = plt.subplots(figsize=(max(5, 1.1 * len(names) * len(series) ** 0.5 + 2), 3.6))
    width = 0.8 / len(series)
    for k, (label, values) in enumerate(series.items()):
        offsets = np.arange(len(names)) - 0.4 + width * (k + 0.5)
        ax.bar(offsets, [values[name] for name in names], width, label=label)
    if baselines:
        for position, name in enumerate(names):
            if name in baselines:
                ax.hlines(
                    baselines[name],
                    position - 0.45,
                    position + 0.45,
                    color="black",
                    linewidth=2,
                    label="baseline" if position == 0 else None,
                )
    ax.set_xticks(range(len(names)), [_wrapped(name) for name in names])
    ax.set(ylabel=ylabel, title=title)
    ax.legend(fontsize=8)
    return ax


def plot_similarity(
    matrix: torch.Tensor | np.ndarray,
    labels: Sequence[str],
    *,
    ax: plt.Axes | None = None,
    title: str | None = None,
) -> plt.Axes:
    """A square matrix of cosine similarities (n, n) between n labelled items, values printed in
    the cells."""
    matrix = _as_array(matrix)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or len(labels) != len(matrix):
        raise ValueError(
            f"matrix must be square with one label per row: got shape {tuple(matrix.shape)} and "
            f"{len(labels)} labels"
        )
    if ax is None:
        size = 1.2 + 0.9 * len(labels)
        _, ax = plt.subplots(figsize=(size + 1.5, size))
    image = ax.imshow(matrix, cmap="magma", vmin=min(0.0, float(matrix.min())), vmax=1.0)
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="cosine similarity")
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(
                j,
                i,
                f"{matrix[i, j]:.2f}",
                ha="center",
                va="center",
                fontsize=8,
                color="white" if matrix[i, j] < 0.6 else "black",
            )
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    if title:
        ax.set_title(title)
    return ax
