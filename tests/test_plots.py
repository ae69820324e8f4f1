import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from course_lib.plots import (
    plot_attention,
    plot_bars,
    plot_grouped_bars,
    plot_heads,
    plot_history,
    plot_losses,
    plot_mask,
    plot_position_bias,
    plot_similarity,
    smooth,
)
from course_lib.training import History


def test_smooth_is_a_trailing_moving_average():
    np.testing.assert_allclose(smooth([1, 2, 3, 4], 2), [1, 1.5, 2.5, 3.5])
    np.testing.assert_allclose(smooth([1, 2, 3], 1), [1, 2, 3])


def test_plot_history_draws_loss_and_metrics():
    history = History(
        steps=[1, 2, 3],
        losses=[1.0, 0.5, 0.25],
        evaluations=[{"step": 2, "accuracy": 0.6}, {"step": 3, "accuracy": 0.8}],
    )
    figure = plot_history(history, title="run")
    loss_axis, metric_axis = figure.axes
    assert loss_axis.get_ylabel() == "training loss"
    assert list(metric_axis.lines[0].get_ydata()) == [0.6, 0.8]
    plt.close(figure)


def test_plot_history_without_metrics_has_one_panel_and_empty_is_an_error():
    figure = plot_history(History(steps=[1], losses=[1.0]))
    assert len(figure.axes) == 1
    plt.close(figure)
    with pytest.raises(ValueError, match="empty"):
        plot_history(History())


def test_plot_attention_labels_rows_and_columns():
    weights = torch.softmax(torch.randn(2, 3), dim=-1)
    ax = plot_attention(weights, ["a", "b"], ["x", "y", "z"], title="t")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["x", "y", "z"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"]
    plt.close(ax.figure)


@pytest.mark.parametrize(
    "weights, labels, message",
    [
        (torch.rand(2, 2, 3), None, "must be 2-D"),
        (torch.rand(2, 3), (["a"], None), "query_labels has 1 labels but weights has 2 rows"),
        (torch.rand(2, 3), (None, ["x"]), "key_labels has 1 labels but weights has 3 columns"),
    ],
)
def test_plot_attention_explains_bad_input(weights, labels, message):
    queries, keys = labels if labels else (None, None)
    with pytest.raises(ValueError, match=message):
        plot_attention(weights, queries, keys)


def test_plot_mask_draws_allowed_cells_darker_and_refuses_non_boolean_masks():
    mask = torch.ones(3, 3, dtype=torch.bool).tril()
    ax = plot_mask(mask, ["a", "b", "c"], ["a", "b", "c"], title="causal")
    image = ax.get_images()[0].get_array()
    assert image[0, 0] and not image[0, 2] and ax.get_title() == "causal"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]
    plt.close(ax.figure)
    with pytest.raises(ValueError, match="2-D boolean"):
        plot_mask(mask.int())
    with pytest.raises(ValueError, match="pick one sentence"):
        plot_mask(mask[None])


def test_plot_losses_draws_one_line_per_run_and_refuses_empty_runs():
    runs = {
        "a": History(steps=[1, 2, 3], losses=[3.0, 2.0, 1.0]),
        "b": History(steps=[1, 2], losses=[2.0, 1.5]),
    }
    ax = plot_losses(runs)
    assert [line.get_label() for line in ax.get_lines()] == ["a", "b"]
    plt.close(ax.figure)
    with pytest.raises(ValueError, match="no loss recorded for \\['b'\\]"):
        plot_losses({"a": runs["a"], "b": History()})


def test_plot_heads_draws_a_grid_and_explains_bad_shapes():
    weights = torch.softmax(torch.randn(2, 3, 4, 5), dim=-1)
    figure = plot_heads(weights, list("abcd"), list("vwxyz"), row_names=["layer 0", "layer 1"])
    assert len(figure.axes) == 2 * 3 + 1  # the maps and one colour bar
    assert figure.axes[0].get_title() == "head 0" and figure.axes[3].get_ylabel() == "layer 1"
    plt.close(figure)
    with pytest.raises(ValueError, match="must be 4-D"):
        plot_heads(weights[0])
    with pytest.raises(ValueError, match="key_labels has 2 labels for 5 positions"):
        plot_heads(weights, key_labels=["a", "b"])


def test_plot_bars_draws_values_errors_and_the_reference():
    ax = plot_bars({"x": 1.0, "y": 2.0}, errors={"y": 0.5}, reference=1.5, title="t")
    assert [patch.get_height() for patch in ax.patches] == [1.0, 2.0]
    assert ax.get_lines()[-1].get_ydata()[0] == 1.5
    plt.close(ax.figure)
    with pytest.raises(ValueError, match="no value"):
        plot_bars({"x": 1.0}, errors={"z": 1.0})


def test_plot_position_bias_checks_the_shape():
    ax = plot_position_bias(range(-3, 4), torch.randn(2, 7), title="bias")
    assert ax.get_title() == "bias"
    plt.close(ax.figure)
    with pytest.raises(ValueError, match="bias must be \\(heads, 7\\)"):
        plot_position_bias(range(-3, 4), torch.randn(2, 6))


def test_plot_grouped_bars_draws_every_series_and_the_baselines():
    ax = plot_grouped_bars(
        {"a": {"x": 1.0, "y": 2.0}, "b": {"x": 3.0, "y": 4.0}}, baselines={"x": 0.5, "y": 1.0}
    )
    assert [patch.get_height() for patch in ax.patches] == [1.0, 2.0, 3.0, 4.0]
    assert len(ax.collections) == 2  # one baseline line per group
    plt.close(ax.figure)
    with pytest.raises(ValueError, match="same names in the same order"):
        plot_grouped_bars({"a": {"x": 1.0}, "b": {"y": 1.0}})


def test_plot_similarity_writes_each_value_and_needs_a_square_matrix():
    ax = plot_similarity(torch.tensor([[1.0, 0.25], [0.25, 1.0]]), ["a", "b"], title="t")
    assert [text.get_text() for text in ax.texts] == ["1.00", "0.25", "0.25", "1.00"]
    plt.close(ax.figure)
    with pytest.raises(ValueError, match="square with one label per row"):
        plot_similarity(torch.ones(2, 3), ["a", "b"])


def test_bar_labels_are_wrapped_so_that_neighbours_do_not_overlap():
    ax = plot_bars({"loss on the summary only": 1.0, "first 9 words": 2.0})
    assert [t.get_text() for t in ax.get_xticklabels()] == [
        "loss on the\nsummary only",
        "first 9 words",
    ]
    plt.close(ax.figure)
