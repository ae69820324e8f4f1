"""BERT (notebook 06): an encoder pretrained with masked-language modelling (MLM) and next-sentence
prediction (NSP), then fine-tuned; its losses, and sentence vectors from a frozen encoder. The
masking and the sentence pairs it learns from are data: `pretraining_data`.

The encoder is notebook 04's `EncoderLayer` as BERT uses it: post-norm, GELU, LayerNorm eps 1e-12.
Inputs are token + segment + position embeddings (all learned), summed and normalised. Parameter
names differ from Hugging Face's, but the computation in evaluation mode is the same, so
`load_from_transformers` copies the weights of `transformers.BertForPreTraining` / `BertModel`
(the real MiniLM checkpoint included) and the outputs match (tests/test_bert.py). In training
mode two details differ, which matters only for dropout: one dropout rate serves attention and
hidden states (BERT has one for each), and the feed-forward network also drops out after GELU.

Shapes: ids, segments (batch, seq) long; padding (batch, seq) bool, True = real token;
states (batch, seq, hidden); pooled (batch, hidden).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import packages
from .data import IGNORE_INDEX, load_checkpoint, save_checkpoint, stable_hash
from .multi_head_attention import recording_weights
from .pretraining_data import trimmed
from .training import evaluating
from .transformer import EncoderLayer


@dataclass
class BertConfig:
    vocab_size: int
    hidden: int = 128
    layers: int = 2
    heads: int = 4
    d_ff: int = 512
    max_len: int = 128
    segments: int = 2
    dropout: float = 0.1
    norm_eps: float = 1e-12
    pad_id: int = 0

    @classmethod
    def from_transformers(cls, config) -> BertConfig:
        """The same sizes as a `transformers.BertConfig` (GELU, absolute positions only)."""
        if config.hidden_act != "gelu":
            raise ValueError(f"course BERT uses GELU; this checkpoint uses {config.hidden_act!r}")
        kind = getattr(config, "position_embedding_type", "absolute")
        if kind != "absolute":
            raise ValueError(
                f"course BERT learns absolute positions; this checkpoint uses {kind!r}"
            )
        return cls(
            vocab_size=config.vocab_size,
            hidden=config.hidden_size,
            layers=config.num_hidden_layers,
            heads=config.num_attention_heads,
            d_ff=config.intermediate_size,
            max_len=config.max_position_embeddings,
            segments=config.type_vocab_size,
            dropout=config.hidden_dropout_prob,
            norm_eps=config.layer_norm_eps,
            pad_id=config.pad_token_id,
        )


def bert_init(module: nn.Module) -> None:
    """BERT's initialisation: weights N(0, 0.02), biases 0, LayerNorms scale 1 and shift 0
    (PyTorch's defaults, N(0, 1) embeddings especially, are far larger)."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, std=0.02)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)
    if isinstance(module, nn.Embedding) and module.padding_idx is not None:
        with torch.no_grad():
            module.weight[module.padding_idx].zero_()
    if isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


class BertEmbeddings(nn.Module):
    """token + segment (sentence A = 0, B = 1) + position embeddings, LayerNorm, dropout."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.tokens = nn.Embedding(config.vocab_size, config.hidden, padding_idx=config.pad_id)
        self.segments = nn.Embedding(config.segments, config.hidden)
        self.positions = nn.Embedding(config.max_len, config.hidden)
        self.norm = nn.LayerNorm(config.hidden, eps=config.norm_eps)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, ids, segments):
        if ids.shape[1] > self.positions.num_embeddings:
            raise ValueError(
                f"sequence of {ids.shape[1]} tokens is longer than max_len="
                f"{self.positions.num_embeddings}"
            )
        positions = torch.arange(ids.shape[1], device=ids.device)
        x = self.tokens(ids) + self.segments(segments) + self.positions(positions)
        return self.dropout(self.norm(x))  # (batch, seq, hidden)


class Bert(nn.Module):
    """The BERT encoder: embeddings, `layers` post-norm GELU encoder layers, and the pooler
    (tanh of a linear layer on the [CLS] state) that the NSP and classification heads read."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.config = config
        self.embeddings = BertEmbeddings(config)
        self.layers = nn.ModuleList(
            EncoderLayer(
                config.hidden,
                config.heads,
                config.d_ff,
                config.dropout,
                norm_first=False,
                activation="gelu",
                norm_eps=config.norm_eps,
            )
            for _ in range(config.layers)
        )
        self.pooler = nn.Linear(config.hidden, config.hidden)
        self.apply(bert_init)

    def forward(self, ids, segments=None, padding=None):
        """-> states (batch, seq, hidden), pooled (batch, hidden)."""
        segments = torch.zeros_like(ids) if segments is None else segments
        padding = ids != self.config.pad_id if padding is None else padding
        x = self.embeddings(ids, segments)
        mask = padding[:, None, :]  # (batch, 1, seq): every position may attend to real tokens
        for layer in self.layers:
            x = layer(x, mask)
        return x, torch.tanh(self.pooler(x[:, 0]))

    @torch.no_grad()
    def load_from_transformers(self, reference) -> Bert:
        """Copy the weights of a `transformers.BertModel` with the same sizes."""
        for ours, theirs in _matching_modules(self, reference):
            ours.load_state_dict(theirs.state_dict())
        return self


def _matching_modules(ours: Bert, reference):
    """(our module, its twin in a `transformers.BertModel`) for every module with weights: each
    pair has the same state-dict keys and shapes, so weights copy either way."""
    embeddings = reference.embeddings
    yield ours.embeddings.tokens, embeddings.word_embeddings
    yield ours.embeddings.segments, embeddings.token_type_embeddings
    yield ours.embeddings.positions, embeddings.position_embeddings
    yield ours.embeddings.norm, embeddings.LayerNorm
    for layer, theirs in zip(ours.layers, reference.encoder.layer, strict=True):
        attention = layer.self_attention
        yield attention.query_projection, theirs.attention.self.query
        yield attention.key_projection, theirs.attention.self.key
        yield attention.value_projection, theirs.attention.self.value
        yield attention.output_projection, theirs.attention.output.dense
        yield layer.feed_forward.linear1, theirs.intermediate.dense
        yield layer.feed_forward.linear2, theirs.output.dense
        yield layer.norm1, theirs.attention.output.LayerNorm
        yield layer.norm2, theirs.output.LayerNorm
    if reference.pooler is not None:
        yield ours.pooler, reference.pooler.dense


class BertForPretraining(nn.Module):
    """BERT with its two pretraining heads. MLM: a dense + GELU + LayerNorm transform, then
    scores over the vocabulary with the token embeddings as weights (tied) plus a bias. NSP: a
    linear layer on the pooled [CLS] state, 2 scores (0 = B follows A, 1 = B is random)."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.bert = Bert(config)
        self.mlm_transform = nn.Sequential(
            nn.Linear(config.hidden, config.hidden),
            nn.GELU(),
            nn.LayerNorm(config.hidden, eps=config.norm_eps),
        )
        self.mlm_bias = nn.Parameter(torch.zeros(config.vocab_size))
        self.nsp_head = nn.Linear(config.hidden, 2)
        self.apply(bert_init)

    def mlm_scores(self, states):
        """states (..., hidden) -> scores over the vocabulary (..., vocab_size)."""
        weights = self.bert.embeddings.tokens.weight  # tied: the same matrix as the input
        # F.linear(x, W, b) is x @ W.T + b in one operation: with 8,000 scores per position, a
        # separate addition would pass over the largest tensor of the model twice more
        return F.linear(self.mlm_transform(states), weights, self.mlm_bias)

    def forward(self, ids, segments=None, padding=None, masked=None):
        """-> (MLM scores, NSP scores (batch, 2)). MLM scores are (batch, seq, vocab), or, with
        `masked` (batch, seq) bool, only at the masked positions: (num_masked, vocab), which is
        much cheaper, since only those positions are trained."""
        states, pooled = self.bert(ids, segments, padding)
        if masked is not None:
            states = states[masked]
        return self.mlm_scores(states), self.nsp_head(pooled)

    @torch.no_grad()
    def load_from_transformers(self, reference) -> BertForPretraining:
        """Copy the weights of a `transformers.BertForPreTraining` with the same sizes."""
        self.bert.load_from_transformers(reference.bert)
        transform = reference.cls.predictions.transform
        self.mlm_transform[0].load_state_dict(transform.dense.state_dict())
        self.mlm_transform[2].load_state_dict(transform.LayerNorm.state_dict())
        self.mlm_bias.copy_(reference.cls.predictions.decoder.bias)
        self.nsp_head.load_state_dict(reference.cls.seq_relationship.state_dict())
        return self


@torch.no_grad()
def to_transformers(model: BertForPretraining):
    """The same masked-language model as a `transformers.BertForMaskedLM` (its encoder, the MLM
    transform and bias, the tied output weights; the NSP head has no place there), ready for
    `save_pretrained` and `pipeline("fill-mask")`."""
    transformers = packages.require("transformers", "transformers==5.24.0")
    config = model.bert.config
    theirs = transformers.BertForMaskedLM(
        transformers.BertConfig(
            vocab_size=config.vocab_size,
            hidden_size=config.hidden,
            num_hidden_layers=config.layers,
            num_attention_heads=config.heads,
            intermediate_size=config.d_ff,
            max_position_embeddings=config.max_len,
            type_vocab_size=config.segments,
            layer_norm_eps=config.norm_eps,
            pad_token_id=config.pad_id,
            hidden_act="gelu",
        )
    ).eval()
    for ours, their in _matching_modules(model.bert, theirs.bert):
        their.load_state_dict(ours.state_dict())
    transform = theirs.cls.predictions.transform
    transform.dense.load_state_dict(model.mlm_transform[0].state_dict())
    transform.LayerNorm.load_state_dict(model.mlm_transform[2].state_dict())
    theirs.cls.predictions.bias.copy_(model.mlm_bias)
    theirs.tie_weights()  # the output layer is the token embedding matrix, as in ours
    return theirs


def save_model(model: BertForPretraining, name: str, vocabulary: list[str]) -> None:
    """Keep a pretrained BERT for a later notebook (06 -> 08), with the vocabulary it reads."""
    save_checkpoint(name, model, asdict(model.bert.config), stable_hash("\n".join(vocabulary)))


def load_model(name: str, vocabulary: list[str], device=None) -> BertForPretraining | None:
    """A model kept by `save_model`, or None when none was saved for this vocabulary."""
    checkpoint = load_checkpoint(name, stable_hash("\n".join(vocabulary)))
    if checkpoint is None:
        return None
    model = BertForPretraining(BertConfig(**checkpoint["config"]))
    model.load_state_dict(checkpoint["state"])
    return model.to(device or "cpu").eval()


@torch.no_grad()
def attention_maps(encoder: Bert, ids, padding=None, segments=None) -> torch.Tensor:
    """The attention weights of every layer for a batch: ids (batch, seq) -> (layers, batch,
    heads, seq, seq), row i of a map being where token i looks (padding gets weight 0)."""
    with recording_weights([layer.self_attention for layer in encoder.layers]) as kept:
        encoder(ids, segments, padding)
    return torch.stack([weights[-1] for weights in kept]).cpu()


def mean_pool(states: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
    """states (batch, seq, hidden), padding (batch, seq) bool (True = real token) ->
    (batch, hidden): the average of each row's real tokens' vectors."""
    weights = padding[..., None].to(states.dtype)  # (batch, seq, 1)
    return (states * weights).sum(dim=1) / weights.sum(dim=1)


class BertClassifier(nn.Module):
    """BERT + dropout + a linear layer: ids (batch, seq) -> class scores (batch, num_classes).
    `pooling` picks the sentence vector: "cls" (BERT's pooler on [CLS], as BERT is fine-tuned) or
    "mean" (the average of the real tokens, as sentence encoders such as MiniLM are trained)."""

    def __init__(self, bert: Bert, num_classes: int, dropout: float = 0.1, pooling: str = "cls"):
        super().__init__()
        if pooling not in ("cls", "mean"):
            raise ValueError(f"pooling is 'cls' or 'mean', got {pooling!r}")
        self.bert, self.pooling = bert, pooling
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(bert.config.hidden, num_classes)
        bert_init(self.classifier)

    def forward(self, ids, segments=None, padding=None):
        padding = ids != self.bert.config.pad_id if padding is None else padding
        states, pooled = self.bert(ids, segments, padding)
        if self.pooling == "mean":
            pooled = mean_pool(states, padding)
        return self.classifier(self.dropout(pooled))


def masked_lm_loss(mlm_scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The masked-LM loss: mean cross-entropy over the masked positions only. mlm_scores (batch,
    seq, vocab); labels (batch, seq), the original token where a token was chosen and IGNORE_INDEX
    (-100) elsewhere. (`pretraining_loss` computes the same, with the scores already taken at the
    masked positions only.)"""
    masked = labels != IGNORE_INDEX  # (batch, seq)
    return F.cross_entropy(mlm_scores[masked], labels[masked])


def pretraining_loss(model: BertForPretraining, batch) -> torch.Tensor:
    """MLM cross-entropy over the masked positions + NSP cross-entropy
    (`pretraining_data.PretrainingBatch`)."""
    masked = batch.labels != IGNORE_INDEX
    mlm_scores, nsp_scores = model(batch.inputs, batch.segments, batch.padding, masked)
    return F.cross_entropy(mlm_scores, batch.labels[masked]) + F.cross_entropy(
        nsp_scores, batch.is_random
    )


def mlm_loss(model: BertForPretraining, batch) -> torch.Tensor:
    """Pretraining with MLM alone (as RoBERTa): the masked-LM cross-entropy over the masked
    positions (`facts_data.FactsBatch`: inputs, segments, padding, labels (batch, seq))."""
    masked = batch.labels != IGNORE_INDEX
    mlm_scores, _ = model(batch.inputs, batch.segments, batch.padding, masked)
    return F.cross_entropy(mlm_scores, batch.labels[masked])


def pair_classification_loss(model: BertClassifier, batch) -> torch.Tensor:
    """Fine-tuning on sentence pairs: cross-entropy of the class scores (`facts_data.PairBatch`:
    ids, segments, padding (batch, seq), labels (batch,))."""
    return F.cross_entropy(model(batch.ids, batch.segments, batch.padding), batch.labels)


def classification_loss(model: BertClassifier, batch) -> torch.Tensor:
    """Fine-tuning's cross-entropy of the class scores (`pretraining_data.ClassificationBatch`:
    ids, padding (batch, seq), labels (batch,))."""
    return F.cross_entropy(model(batch.ids, padding=batch.padding), batch.labels)


def mean_pooled(
    encoder: Bert, ids: torch.Tensor, padding: torch.Tensor, device=None, batch_size: int = 50
) -> np.ndarray:
    """Sentence vectors from a frozen `Bert`, as numpy (n, hidden): the average of each
    sentence's real tokens' final states. ids, padding (n, seq)."""
    device = device or torch.device("cpu")
    encoder = encoder.to(device)
    vectors = []
    with evaluating(encoder):
        for start in range(0, len(ids), batch_size):
            rows = torch.arange(start, min(start + batch_size, len(ids)))
            batch_ids, batch_padding = trimmed(ids, padding, rows)
            states, _ = encoder(batch_ids.to(device), padding=batch_padding.to(device))
            vectors.append(mean_pool(states, batch_padding.to(device)).cpu())
    return torch.cat(vectors).numpy()


def load_minilm() -> tuple[Bert, object]:
    """The pretrained all-MiniLM-L6-v2 checkpoint installed with the course (notebook 06b) as the
    course's `Bert` (proven equal to `transformers`' BertModel, tests/test_bert.py) and its
    WordPiece `tokenizers.Tokenizer`, without the file's padding to 128 tokens."""
    transformers = packages.require("transformers", "transformers==5.24.0")
    tokenizers = packages.require("tokenizers", "tokenizers==0.23.3")
    folder = packages.minilm_folder()
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    try:
        reference = transformers.BertModel.from_pretrained(folder)
    finally:
        transformers.logging.set_verbosity(verbosity)
        transformers.utils.logging.enable_progress_bar()
    tokenizer = tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.no_padding()
    encoder = Bert(BertConfig.from_transformers(reference.config)).load_from_transformers(reference)
    return encoder, tokenizer
