import matplotlib.pyplot as plt
import pytest

from course_lib import diagrams


def texts(figure):
    return [text.get_text() for ax in figure.axes for text in ax.texts] + [
        ax.get_title() for ax in figure.axes
    ]


def test_seq2seq_attention_draws_every_word_and_the_attention_step():
    figure = diagrams.draw_seq2seq_attention(["un", "deux"], ["<bos>", "one"])
    drawn = texts(figure)
    assert {"un", "deux", "<bos>", "one", "next word"} <= set(drawn)
    assert any(text.startswith("attention: score each") for text in drawn)
    plt.close(figure)


@pytest.mark.parametrize("norm", ["post", "pre"])
def test_transformer_has_both_layers_their_sublayers_and_the_norm_placement(norm):
    figure = diagrams.draw_transformer(norm)
    drawn = texts(figure)
    for part in ("masked self-attention", "cross-attention", "feed-forward", "LayerNorm", "+"):
        assert any(text.startswith(part) for text in drawn), part
    assert (norm + "-norm") in figure.axes[0].get_title()
    # pre-norm ends each stack with a final LayerNorm; post-norm does not need one
    assert ("final LayerNorm" in drawn) == (norm == "pre")
    plt.close(figure)


def test_bert_input_has_one_column_per_token_with_its_segment():
    figure = diagrams.draw_bert_input(["[CLS]", "a", "[SEP]", "b", "[SEP]"], [0, 0, 0, 1, 1])
    drawn = texts(figure)
    assert drawn.count("$E_A$") == 3 and drawn.count("$E_B$") == 2
    assert "$P_{4}$" in drawn and "E[[CLS]]" in drawn
    plt.close(figure)


def test_text_to_text_shows_each_example_on_both_sides():
    long = " ".join(["word"] * 60)
    figure = diagrams.draw_text_to_text([("topic: a shuttle", "space"), (long, "y")])
    drawn = texts(figure)
    assert "topic: a shuttle" in drawn and "space" in drawn
    cut = [text for text in drawn if text.startswith("word")]
    assert len(cut) == 1 and cut[0].endswith("…") and cut[0].count("\n") == 1  # two lines
    plt.close(figure)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: diagrams.draw_transformer("middle"), "'post' or 'pre'"),
        (lambda: diagrams.draw_bert_input(["a", "b"], [0]), "one segment id per token"),
        (lambda: diagrams.draw_bert_input(["a"], [2]), "0 (sentence A) or 1"),
        (lambda: diagrams.draw_seq2seq_attention(["a"], ["b"], step=3), "step must be"),
        (lambda: diagrams.draw_text_to_text([]), "at least one"),
        (lambda: diagrams.draw_text_to_text([("only input",)]), "(input, output) pair"),
    ],
)
def test_diagrams_explain_bad_input(call, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call()
