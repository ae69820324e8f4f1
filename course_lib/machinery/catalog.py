"""The course's notebooks, one entry each: the single source of what the README's notebook table
says about them (times and memory come from the benchmark). A new notebook gets its entry here;
tests/test_project.py checks that every solutions notebook has one and that the exercises named
are the notebook's graded checks.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    notebook: str  # the file stem in solutions/ and notebooks/, e.g. "04_transformer"
    title: str
    builds: str  # what the learner builds and sees, for the README's table
    exercises: dict[str, str]  # grade_id of each graded check -> its name for people

    @property
    def number(self) -> str:
        return self.notebook.split("_", 1)[0]

    @property
    def name(self) -> str:
        return self.notebook.split("_", 1)[1]


CATALOG = (
    Entry(
        "00_orientation",
        "Orientation",
        "environment check, the exercise → check → grade loop, softmax, cross-entropy, the `fit` "
        "training loop",
        {"softmax": "softmax", "cross-entropy": "cross-entropy"},
    ),
    Entry(
        "01_rnn_baselines",
        "RNN baselines",
        "RNN, GRU and LSTM steps from scratch (parity with `torch.nn`), the vanishing gradient, "
        "a GRU encoder–decoder of your own (teacher forcing, greedy decoding) on English→French "
        "number phrases and its length bottleneck, sequential cost timed, and the cost per layer "
        "of recurrence, convolution and self-attention (operations, sequential steps, path "
        "length)",
        {
            "rnn-cell-step": "RNN step",
            "gru-cell-step": "GRU step",
            "lstm-cell-step": "LSTM step",
            "encoder-decoder": "the encoder–decoder",
        },
    ),
    Entry(
        "02_attention",
        "Attention",
        "scaled dot-product and additive attention, padding and causal masks (drawn), the three "
        "kinds of attention, the encoder–decoder with attention drawn, the GRU translator's "
        "decoder step with attention and its greedy loop, attention heatmaps",
        {
            "scaled-dot-product-attention": "scaled dot-product attention",
            "padding-mask": "padding mask",
            "causal-mask": "causal mask",
            "attention-decoder-step": "decoder step with attention",
            "translate": "greedy translation",
        },
    ),
    Entry(
        "03_multi_head_attention",
        "Multi-head attention",
        "split/merge heads, `MultiHeadAttention` (parity with `torch.nn.MultiheadAttention`, "
        "fast path), heads as an axis vs a loop (timed), per-head heatmaps of a trained "
        "translator, and each head silenced in turn (its cost in exact match, charted)",
        {
            "split-heads": "split heads",
            "merge-heads": "merge heads",
            "multi-head-attention": "the MultiHeadAttention module",
            "load-from-torch": "copying torch's weights",
            "heads-one-at-a-time": "heads one at a time",
        },
    ),
    Entry(
        "04_transformer",
        "The Transformer",
        "sinusoidal positional encoding, both layers drawn (post-norm and pre-norm), layer norm by "
        "hand against batch norm, the residual connection with its layer norm, the feed-forward "
        "block, encoder and decoder layers and the assembled encoder–decoder built by the learner "
        "(equal to `torch.nn.Transformer` with copied weights), the masks drawn, warm-up, label "
        "smoothing, greedy and beam search, BLEU, every attention of the trained model (per layer "
        "and head), its date errors traced to their cause in the cross-attention",
        {
            "positional-encoding": "positional encoding",
            "sublayer-connection": "residual connection",
            "feed-forward": "feed-forward block",
            "encoder-layer": "encoder layer",
            "decoder-layer": "decoder layer",
            "decoder-mask": "decoder mask",
            "transformer": "the whole Transformer",
            "beam-step": "beam step",
            "length-normalized": "length-normalised score",
        },
    ),
    Entry(
        "04b_transformer_vs_gru",
        "Transformer or GRU?",
        "notebook 04's Transformer against notebook 02's GRU with attention at equal steps and at "
        "equal seconds (step costs timed side by side), a learning curve read at a time budget by "
        "you, layer cost against sequence length on this CPU, sequential steps and path lengths, "
        "the embedding-scale pitfall and pre- vs post-norm",
        {"value-within-seconds": "a curve at a time budget"},
    ),
    Entry(
        "05_transformer_summarizer",
        "A decoder-only summarizer",
        "docstring summarisation data (a function's name and description → its one-line summary) "
        "and a byte-level BPE tokenizer, the loss mask over the summary, a GPT block and the whole "
        "decoder-only (GPT-style) LM of your own (parity with `torch.nn`), trained with warm-up "
        "and linear decay, greedy generation, ROUGE beside the first-words and name baselines",
        {
            "summary-loss-mask": "summary loss mask",
            "gpt-block": "GPT block",
            "gpt-model": "the whole GPT",
            "generate": "generation loop",
        },
    ),
    Entry(
        "05b_summarizer_decoding",
        "Decoding a summary",
        "notebook 05's summariser decoded greedily (its loops counted), with temperature, top-k "
        "and top-p sampling and with n-gram blocking written by you, side by side on the same "
        "articles, and scored with ROUGE beside three copying baselines",
        {
            "sample-next-token": "sampling with temperature and top-k",
            "sample-top-p": "nucleus sampling",
            "repeated-ngram-tokens": "n-gram blocking",
        },
    ),
    Entry(
        "05c_summary_or_every_token",
        "Which tokens should the loss count?",
        "the summariser's loss written by you (on the summary only, or on every token), the cost "
        "of a step of each timed, and the two trained at equal compute and scored with ROUGE",
        {"summarizer-loss": "the summariser's loss"},
    ),
    Entry(
        "06_bert_pretraining",
        "BERT pretraining",
        "transfer learning (feature-based vs fine-tuning) and the word2vec → T5 timeline, "
        "word2vec trained with gensim (neighbours, analogies) against MiniLM's contextual vectors "
        "for one word in two senses, a WordPiece tokenizer, BERT's input drawn and built by you "
        "(the sentence pair and its segments, the token + segment + position embeddings), MLM "
        "masking, the masked-LM loss and NSP pairs, "
        "a BERT (parity with `transformers`) pretrained with whole-fact masking on 344 facts "
        "about countries, filling in held-out sentences, and fine-tuned on a question-candidate "
        "pair task for countries the fine-tuning never shows: pretrained against from scratch, "
        "3 seeds",
        {
            "encode-pair": "sentence-pair input",
            "bert-embeddings": "BERT's input embeddings",
            "mask-tokens": "MLM masking",
            "masked-lm-loss": "masked-LM loss",
            "nsp-pair": "NSP pairs",
            "bert-for-pretraining": "the pretraining heads",
        },
    ),
    Entry(
        "06b_bert_real_weights",
        "BERT with real weights",
        "the real MiniLM checkpoint in the course's BERT (matches `transformers.BertModel`), "
        "model sizes (BERT-base, DistilBERT, MiniLM), its heads measured (previous token, special "
        "tokens, broad) and drawn, three formats of fine-tuning, frozen features + logistic "
        "regression against fine-tuning with a classifier of your own, on 200 review sentences "
        "(loss curves per fold); the real model beside notebook 06's on its facts task",
        {"mean-pool": "mean pooling", "bert-classifier": "the fine-tuning classifier"},
    ),
    Entry(
        "07_t5_multitask",
        "T5 multitask",
        "text-to-text framing of five tasks built from offline data (drawn), GLUE's tasks and "
        "metrics, a Unigram tokenizer with "
        "sentinels, span corruption and salient spans, a T5 (relative position bias, RMSNorm, no "
        "biases; parity with `transformers`), pretrained with span corruption on sentences that "
        "state facts about countries, filling in the facts of sentences it never read, its "
        "learned position bias as heatmaps",
        {
            "format_example": "prefix formatting",
            "span_corruption": "span corruption",
            "rms-norm": "RMSNorm",
            "relative-position-bucket": "relative position buckets",
            "t5-attention": "T5's attention",
        },
    ),
    Entry(
        "07b_t5_one_model_five_tasks",
        "T5: one model, five tasks",
        "examples-proportional, capped and temperature mixing written by you, notebook 07's "
        "pretrained T5 trained on all five tasks at once (span corruption kept in the mixture), "
        "a GLUE-style table against trivial baselines, the first test examples of each task, "
        "closed-book questions about countries no training question mentions",
        {"mixing-rates": "mixing rates"},
    ),
    Entry(
        "07c_t5_pretraining_or_not",
        "T5: what pretraining bought",
        "notebook 07b's multitask run from scratch, both models in one GLUE-style table, and "
        "the closed-book questions by kind (your per-kind accuracy) against the most frequent "
        "answer",
        {"accuracy-by-kind": "accuracy by kind"},
    ),
    Entry(
        "08_hugging_face",
        "The Hugging Face stack",
        "`pipeline` on the local MiniLM checkpoint (matches the course's BERT), `tokenizers` "
        "(offsets, special tokens, training one), `datasets` (`map`, `filter`, formats) and "
        "sentence pairs tokenised for `map`, a collate function equal to "
        "`DataCollatorWithPadding`, `compute_metrics` (accuracy, F1) and `Trainer` fine-tuning "
        "over 5 folds, save and reload; `fill-mask` on notebook 06's own BERT exported to "
        "`transformers`, a classification pipeline on the fine-tuned model, `load_dataset` on "
        "local CSV and JSON files, the loop by hand with `accelerate`",
        {
            "tokenize-pairs": "sentence pairs for map",
            "collate": "collate",
            "compute-metrics": "compute_metrics",
        },
    ),
    Entry(
        "08b_trainer_gap",
        "Why Trainer scored lower",
        "a classifier in the form `Trainer` trains (a dict with the loss and the logits, mean "
        "pooling) written by you, and `Trainer` rerun with one change at a time (mean pooling; "
        "a constant learning rate) to find which choice made notebook 08's gap to 06b",
        {"mean-pooling-classifier": "a classifier Trainer can train"},
    ),
)


def entry(notebook: str) -> Entry:
    """The catalogue entry of a notebook (by its file stem)."""
    for item in CATALOG:
        if item.notebook == notebook:
            return item
    raise KeyError(
        f"{notebook} has no entry in course_lib/machinery/catalog.py: add one (title, what it "
        "builds, its graded exercises)"
    )
