"""One checker per graded exercise, so that a notebook's check cell reads

    from course_lib import check
    check.softmax(softmax)

A passing check prints one line; a failing one raises `CheckFailed` whose message names the likely
mistake. Checkers are grouped by notebook in the modules of this package.
"""

from .attention import (
    attention_decoder_step,
    causal_mask,
    padding_mask,
    scaled_dot_product_attention,
    translate,
)
from .bert import (
    bert_classifier,
    bert_embeddings,
    bert_for_pretraining,
    encode_pair,
    mask_tokens,
    masked_lm_loss,
    mean_pool,
    nsp_pair,
)
from .decoder_only import (
    generate,
    gpt_block,
    gpt_model,
    repeated_ngram_tokens,
    sample_next_token,
    sample_top_p,
    summarizer_loss,
    summary_loss_mask,
)
from .framework import CheckFailed
from .hugging_face import collate, compute_metrics, mean_pooling_classifier, tokenize_pairs
from .multi_head_attention import (
    heads_one_at_a_time,
    load_from_torch,
    merge_heads,
    multi_head_attention,
    split_heads,
)
from .orientation import cross_entropy, softmax
from .rnn import encoder_decoder, gru_cell_step, lstm_cell_step, rnn_cell_step
from .t5 import (
    accuracy_by_kind,
    format_example,
    mixing_rates,
    relative_position_bucket,
    rms_norm,
    span_corruption,
    t5_attention,
)
from .transformer import (
    beam_step,
    decoder_layer,
    decoder_self_attention_mask,
    encoder_layer,
    feed_forward,
    length_normalized,
    positional_encoding,
    sublayer_connection,
    transformer_model,
    value_within_seconds,
)

__all__ = [
    "CheckFailed",
    "accuracy_by_kind",
    "attention_decoder_step",
    "beam_step",
    "bert_classifier",
    "bert_embeddings",
    "bert_for_pretraining",
    "decoder_layer",
    "decoder_self_attention_mask",
    "encode_pair",
    "encoder_decoder",
    "encoder_layer",
    "feed_forward",
    "format_example",
    "causal_mask",
    "collate",
    "cross_entropy",
    "compute_metrics",
    "generate",
    "gpt_block",
    "gpt_model",
    "gru_cell_step",
    "length_normalized",
    "lstm_cell_step",
    "mask_tokens",
    "masked_lm_loss",
    "mean_pool",
    "mean_pooling_classifier",
    "merge_heads",
    "mixing_rates",
    "multi_head_attention",
    "heads_one_at_a_time",
    "load_from_torch",
    "nsp_pair",
    "padding_mask",
    "relative_position_bucket",
    "rms_norm",
    "t5_attention",
    "value_within_seconds",
    "positional_encoding",
    "span_corruption",
    "rnn_cell_step",
    "sample_next_token",
    "repeated_ngram_tokens",
    "sample_top_p",
    "scaled_dot_product_attention",
    "softmax",
    "split_heads",
    "sublayer_connection",
    "summarizer_loss",
    "summary_loss_mask",
    "transformer_model",
    "tokenize_pairs",
    "translate",
]
