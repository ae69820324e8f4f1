"""Architecture figures drawn with matplotlib: boxes for the parts of a model, arrows for what
flows between them. Each function returns the figure; a notebook shows it.

- `draw_seq2seq_attention`: notebook 02's GRU encoder-decoder, one decoder step with attention.
- `draw_transformer`: notebook 04's encoder and decoder layers, residuals and norms (post or pre).
- `draw_bert_input`: notebook 06's input: token + segment + position embeddings, then LayerNorm.
- `draw_text_to_text`: notebook 07's framing: every task is "prefix: input" -> "output text".
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

COLORS = {
    "embed": "#f4d6a0",
    "attention": "#f6b5b5",
    "norm": "#f7f2a0",
    "feed_forward": "#b7dcf5",
    "rnn": "#c9e7c1",
    "output": "#d9c6ef",
    "plain": "#eeeeee",
}


def _canvas(width: float, height: float, size: tuple[float, float]) -> tuple[plt.Figure, plt.Axes]:
    figure, ax = plt.subplots(figsize=size)
    ax.set(xlim=(0, width), ylim=(0, height), aspect="equal")
    ax.axis("off")
    return figure, ax


def _box(ax, x, y, w, h, text, kind="plain", fontsize=9, **style):
    """A rounded box with its lower-left corner at (x, y) and `text` in the middle."""
    ax.add_patch(
        FancyBboxPatch(
            (x, y),
            w,
            h,
            boxstyle="round,pad=0.02,rounding_size=0.08",
            facecolor=COLORS[kind],
            edgecolor="#333333",
            **{"linewidth": 1, **style},
        )
    )
    ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=fontsize)


def _arrow(ax, start, end, color="#333333", style="-|>", **kwargs):
    ax.add_patch(
        FancyArrowPatch(
            start, end, arrowstyle=style, mutation_scale=10, color=color, linewidth=1, **kwargs
        )
    )


def draw_seq2seq_attention(
    source: Sequence[str] = ("three", "hundred", "two", "<eos>"),
    target: Sequence[str] = ("<bos>", "trois", "cent"),
    step: int | None = None,
) -> plt.Figure:
    """The GRU encoder-decoder with attention (notebook 02). The encoder reads `source` into one
    state per token; decoder step `step` (the last one by default) scores every encoder state
    against its own state, mixes them with the softmax weights into a context, and predicts the
    next word from its state and the context."""
    if not source or not target:
        raise ValueError("source and target need at least one token each")
    step = len(target) - 1 if step is None else step
    if not 0 <= step < len(target):
        raise ValueError(f"step must be between 0 and {len(target) - 1}, got {step}")
    n, m = len(source), len(target)
    width = 1.4 * (n + m) + 1.5
    figure, ax = _canvas(width, 6.2, (min(14, 1.1 * width), 5))
    encoder_x = [0.3 + 1.4 * i for i in range(n)]
    decoder_x = [encoder_x[-1] + 2.2 + 1.4 * j for j in range(m)]
    for i, (x, word) in enumerate(zip(encoder_x, source, strict=True)):
        ax.text(x + 0.5, 0.3, word, ha="center", fontsize=9)
        _arrow(ax, (x + 0.5, 0.6), (x + 0.5, 1.2))
        _box(ax, x, 1.2, 1.0, 0.8, "GRU", "rnn")
        if i:
            _arrow(ax, (x - 0.4, 1.6), (x, 1.6))
        _arrow(ax, (x + 0.5, 2.0), (x + 0.5, 3.65), color="#c0392b")
        ax.text(x + 0.58, 2.35, f"$e_{{{i + 1}}}$", fontsize=9, color="#c0392b")
    ax.text(
        encoder_x[0],
        3.1,
        "encoder outputs $e_j$: keys and values",
        fontsize=8,
        color="#c0392b",
        bbox={"facecolor": "white", "edgecolor": "none", "pad": 1},
    )
    # attention: a bar over the encoder states, feeding the current decoder step
    left, right = encoder_x[0] + 0.2, encoder_x[-1] + 0.8
    _box(
        ax,
        left,
        3.65,
        right - left,
        0.8,
        "attention: score each $e_j$ against the decoder state $s$,\n"
        "softmax, weighted sum of the $e_j$: the context",
        "attention",
        fontsize=8,
    )
    for j, (x, word) in enumerate(zip(decoder_x, target, strict=True)):
        ax.text(x + 0.5, 0.3, word, ha="center", fontsize=9)
        _arrow(ax, (x + 0.5, 0.6), (x + 0.5, 1.2))
        emphasis = {"linewidth": 2.5} if j == step else {}
        _box(ax, x, 1.2, 1.0, 0.8, "GRU", "rnn", **emphasis)
        _arrow(ax, (x - 0.4 if j else encoder_x[-1] + 1.0, 1.6), (x, 1.6))
    x = decoder_x[step]
    _arrow(ax, (x + 0.5, 2.0), (right, 3.9), color="#2c3e50", connectionstyle="arc3,rad=0.2")
    ax.text(x - 1.3, 2.1, "query: the\ndecoder state $s$", fontsize=8, color="#2c3e50")
    _box(ax, x - 0.1, 4.9, 1.2, 0.8, "combine,\noutput", "output", fontsize=8)
    _arrow(ax, (right, 4.25), (x - 0.1, 5.3), color="#c0392b", connectionstyle="arc3,rad=-0.2")
    ax.text(right + 0.4, 4.75, "context", fontsize=8, color="#c0392b")
    _arrow(ax, (x + 0.8, 2.0), (x + 0.8, 4.9))
    ax.text(x + 0.9, 3.3, "$s$", fontsize=9)
    ax.text(x + 0.5, 5.9, "next word", ha="center", fontsize=9)
    ax.set_title("an encoder-decoder with attention: every decoder step looks at every source word")
    return figure


def _layer(ax, x, y, width, sublayers, norm, label):
    """A stack of sublayers, each wrapped in its residual connection and LayerNorm; returns the
    top y, inside a dashed frame labelled `label`. `sublayers` is a list of (text, kind)."""
    bottom = y
    for text, kind in sublayers:
        if norm == "pre":
            _box(ax, x, y + 0.3, width, 0.5, "LayerNorm", "norm", fontsize=8)
            _arrow(ax, (x + width / 2, y), (x + width / 2, y + 0.3))
            _box(ax, x, y + 1.1, width, 0.7, text, kind, fontsize=8)
            _arrow(ax, (x + width / 2, y + 0.8), (x + width / 2, y + 1.1))
            _box(ax, x + width / 2 - 0.25, y + 2.1, 0.5, 0.5, "+", "plain")
            _arrow(ax, (x + width / 2, y + 1.8), (x + width / 2, y + 2.1))
            top = y + 2.6
            add_y = y + 2.35
        else:
            _box(ax, x, y + 0.3, width, 0.7, text, kind, fontsize=8)
            _arrow(ax, (x + width / 2, y), (x + width / 2, y + 0.3))
            _box(ax, x + width / 2 - 0.25, y + 1.3, 0.5, 0.5, "+", "plain")
            _arrow(ax, (x + width / 2, y + 1.0), (x + width / 2, y + 1.3))
            _box(ax, x, y + 2.1, width, 0.5, "LayerNorm", "norm", fontsize=8)
            _arrow(ax, (x + width / 2, y + 1.8), (x + width / 2, y + 2.1))
            top = y + 2.6
            add_y = y + 1.55
        # the residual: around the sublayer, into the "+"
        ax.plot(
            [x + width / 2, x + width + 0.3, x + width + 0.3],
            [y + 0.15, y + 0.15, add_y],
            color="#27ae60",
            linewidth=1.2,
        )
        _arrow(ax, (x + width + 0.3, add_y), (x + width / 2 + 0.25, add_y), color="#27ae60")
        y = top + 0.3
    ax.add_patch(
        FancyBboxPatch(
            (x - 0.25, bottom - 0.1),
            width + 0.85,
            y - 0.3 - bottom + 0.2,
            boxstyle="round,pad=0.02",
            fill=False,
            linestyle="--",
            edgecolor="#888888",
        )
    )
    ax.text(x - 0.4, (bottom + y) / 2, label, ha="right", va="center", fontsize=9, rotation=90)
    return y - 0.3


def draw_transformer(norm: str = "post") -> plt.Figure:
    """The Transformer's encoder layer and decoder layer (notebook 04): each sublayer inside a
    residual connection (green) with a LayerNorm after the sum (`norm="post"`, the original paper)
    or before the sublayer (`norm="pre"`, GPT-2 and most models since); embeddings with the
    positional encoding below, the output projection on top."""
    if norm not in ("post", "pre"):
        raise ValueError(f"norm must be 'post' or 'pre', got {norm!r}")
    figure, ax = _canvas(12.5, 13.4, (8.5, 9.2))
    width = 3.0
    for x, side in ((1.4, "encoder"), (7.6, "decoder")):
        _box(ax, x, 0.2, width, 0.6, "token embedding", "embed", fontsize=8)
        _box(ax, x, 1.1, width, 0.6, "+ positional encoding", "embed", fontsize=8)
        _arrow(ax, (x + width / 2, 0.8), (x + width / 2, 1.1))
        ax.text(
            x + width / 2,
            -0.2,
            "source tokens" if side == "encoder" else "target tokens, shifted right",
            ha="center",
            fontsize=8,
        )
    encoder_top = _layer(
        ax,
        1.4,
        1.7,
        width,
        [
            ("self-attention\n(padding mask)", "attention"),
            ("feed-forward\n(per position)", "feed_forward"),
        ],
        norm,
        "encoder layer  x N",
    )
    decoder_top = _layer(
        ax,
        7.6,
        1.7,
        width,
        [
            ("masked self-attention\n(causal + padding)", "attention"),
            ("cross-attention\n(keys, values: encoder)", "attention"),
            ("feed-forward\n(per position)", "feed_forward"),
        ],
        norm,
        "decoder layer  x N",
    )
    if norm == "pre":  # pre-norm stacks end with one more LayerNorm
        for x, top in ((1.4, encoder_top), (7.6, decoder_top)):
            _box(ax, x, top + 0.3, width, 0.5, "final LayerNorm", "norm", fontsize=8)
            _arrow(ax, (x + width / 2, top), (x + width / 2, top + 0.3))
        encoder_top, decoder_top = encoder_top + 0.8, decoder_top + 0.8
    cross_y = 1.7 + 2.9 + (1.45 if norm == "pre" else 0.65)  # the middle of cross-attention
    ax.plot(
        [1.4 + width / 2, 1.4 + width / 2, 6.35],
        [encoder_top, encoder_top + 0.3, encoder_top + 0.3],
        color="#2c3e50",
        linewidth=1.2,
    )
    ax.plot([6.35, 6.35], [encoder_top + 0.3, cross_y], color="#2c3e50", linewidth=1.2)
    _arrow(ax, (6.35, cross_y), (7.6, cross_y), color="#2c3e50")
    ax.text(
        3.1,
        encoder_top + 0.45,
        "encoder output: keys and\nvalues of cross-attention",
        fontsize=7,
        color="#2c3e50",
    )
    _box(ax, 7.6, decoder_top + 0.3, width, 0.6, "linear + softmax", "output", fontsize=8)
    _arrow(ax, (7.6 + width / 2, decoder_top), (7.6 + width / 2, decoder_top + 0.3))
    ax.text(7.6 + width / 2, decoder_top + 1.1, "next-token probabilities", ha="center", fontsize=8)
    name = (
        "post-norm (LayerNorm after each sum)"
        if norm == "post"
        else ("pre-norm (LayerNorm before each sublayer)")
    )
    ax.set_title(f"Transformer encoder and decoder layers\n{name}; residuals in green")
    return figure


def draw_bert_input(tokens: Sequence[str], segments: Sequence[int]) -> plt.Figure:
    """BERT's input (notebook 06) for one sentence pair: per position, the token's embedding plus
    its segment's (A = 0, B = 1) plus its position's, then LayerNorm (and dropout)."""
    if len(tokens) != len(segments):
        raise ValueError(
            f"one segment id per token: got {len(tokens)} tokens and {len(segments)} segment ids"
        )
    if not tokens:
        raise ValueError("tokens is empty")
    if any(segment not in (0, 1) for segment in segments):
        raise ValueError(f"segment ids are 0 (sentence A) or 1 (sentence B), got {list(segments)}")
    n = len(tokens)
    figure, ax = _canvas(1.2 * n + 2.6, 6.3, (min(15, 0.95 * n + 2.5), 4.6))
    rows = [("token", "embed"), ("segment", "attention"), ("position", "feed_forward")]
    for column, (token, segment) in enumerate(zip(tokens, segments, strict=True)):
        x = 2.4 + 1.2 * column
        ax.text(x + 0.5, 5.9, token, ha="center", fontsize=9, fontweight="bold")
        texts = [f"E[{token}]", f"$E_{'AB'[segment]}$", f"$P_{{{column}}}$"]
        for row, ((_, kind), text) in enumerate(zip(rows, texts, strict=True)):
            y = 4.7 - 1.3 * row
            _box(ax, x, y, 1.0, 0.75, text, kind, fontsize=7)
            if row:
                ax.text(x + 0.5, y + 0.97, "+", ha="center", va="center", fontsize=11)
        _arrow(ax, (x + 0.5, 2.1), (x + 0.5, 1.35))
        _box(ax, x, 0.5, 1.0, 0.75, "LayerNorm", "norm", fontsize=6)
    for row, (name, _) in enumerate(rows):
        ax.text(2.1, 5.05 - 1.3 * row, f"{name}\nembedding", ha="right", va="center", fontsize=8)
    ax.text(2.1, 0.87, "sum, then", ha="right", va="center", fontsize=8)
    ax.set_title("BERT's input: token + segment + position embeddings, then LayerNorm")
    return figure


def draw_text_to_text(examples: Sequence[tuple[str, str]]) -> plt.Figure:
    """T5's framing (notebook 07): every task is text in ("prefix: input"), text out, through
    one model. `examples` are (input, output) pairs, one per task."""
    if not examples:
        raise ValueError("give at least one (input, output) example")
    for example in examples:
        if len(example) != 2:
            raise ValueError(f"each example is an (input, output) pair, got {example!r}")
    n = len(examples)
    height = 1.1 * n + 0.6
    figure, ax = _canvas(15, height, (12, 0.75 * height + 0.6))
    _box(ax, 6.6, 0.3, 1.8, height - 0.6, "T5\n(one model,\none loss)", "output", fontsize=10)

    def short(text, limit):
        """At most two lines of about limit / 2 characters, "…" where the text is cut."""
        text = text if len(text) <= limit else text[: limit - 1] + "…"
        return textwrap.fill(text, width=limit // 2 + 2, max_lines=2, placeholder="…")

    for i, (source, target) in enumerate(examples):
        y = height - 1.0 - 1.1 * i
        _box(ax, 0.1, y, 6.0, 0.75, short(source, 110), "embed", fontsize=7)
        _arrow(ax, (6.1, y + 0.37), (6.6, height / 2), color="#777777")
        _box(ax, 8.9, y, 5.9, 0.75, short(target, 100), "feed_forward", fontsize=7)
        _arrow(ax, (8.4, height / 2), (8.9, y + 0.37), color="#777777")
    ax.set_title("text to text: the prefix names the task, the answer is text")
    return figure
