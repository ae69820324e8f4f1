"""One checker per graded exercise, so that a notebook's check cell reads

    from course_lib import check
    check.softmax(softmax)

A passing check prints one line; a failing one raises `CheckFailed` whose message names the likely
mistake. Checkers are grouped by notebook in the modules of this package.
"""

from .attention import causal_mask, padding_mask, scaled_dot_product_attention
from .framework import CheckFailed
from .multi_head_attention import merge_heads, multi_head_attention_forward, split_heads
from .orientation import softmax
from .rnn import gru_cell_step, rnn_cell_step

__all__ = [
    "CheckFailed",
    "causal_mask",
    "gru_cell_step",
    "merge_heads",
    "multi_head_attention_forward",
    "padding_mask",
    "rnn_cell_step",
    "scaled_dot_product_attention",
    "softmax",
    "split_heads",
]
