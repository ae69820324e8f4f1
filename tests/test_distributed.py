"""Data-parallel training: every course loss, trained by `fit` on two CPU processes (gloo) as
torchrun would start them, follows the same loss trajectory and ends with the same weights as one
process on the same global batches, and the two replicas stay identical (the gradients are
averaged). A loss that bypasses the model's forward is refused under DDP, loudly."""

import json
import os
import random
import socket
from functools import partial

import pytest
import torch
import torch.multiprocessing as mp

from course_lib import bert, distributed, t5, t5_data
from course_lib.decoder_only import DecoderOnlyLM, summarizer_loss
from course_lib.pretraining_data import ClassificationBatch, PretrainingBatch, mask_tokens
from course_lib.seq2seq import translation_loss
from course_lib.summarization_data import EOS_ID, SEP_ID
from course_lib.summarization_data import collate as summary_collate
from course_lib.training import fit
from course_lib.transformer import TranslationTransformer
from course_lib.translation_data import collate as translation_collate

STEPS = 4
TOLERANCE = 1e-5  # float32: the two ways of summing differ in the last bits only
VOCAB = 40

# Each batch has 8 rows; rows 4-7 repeat the lengths (and masked places) of rows 0-3 with other
# tokens, so that each process's half holds as many counted tokens as the other: the mean of the
# two halves' means is then the whole batch's mean, exactly.


def _mirrored_lengths(rng: random.Random, low: int, high: int) -> list[int]:
    lengths = [rng.randint(low, high) for _ in range(4)]
    return lengths + lengths


def _tokens(rng: random.Random, length: int) -> list[int]:
    return [rng.randrange(3, VOCAB) for _ in range(length)]


def _translation():
    torch.manual_seed(0)
    model = TranslationTransformer(
        VOCAB, VOCAB, d_model=16, num_heads=2, num_layers=1, d_ff=32, dropout=0.0, max_len=32
    )
    rng = random.Random(1)
    batches = []
    for _ in range(3):
        sources, targets = _mirrored_lengths(rng, 2, 9), _mirrored_lengths(rng, 2, 9)
        pairs = [(_tokens(rng, s), _tokens(rng, t)) for s, t in zip(sources, targets, strict=True)]
        batches.append(translation_collate(pairs, pad_id=0, bos_id=1, eos_id=2))
    return model, batches, translation_loss


def _summarizer():
    torch.manual_seed(0)
    model = DecoderOnlyLM(
        VOCAB, d_model=16, num_heads=2, num_layers=1, d_ff=32, dropout=0.0, max_len=32
    )
    rng = random.Random(2)
    batches = []
    for _ in range(3):
        articles, summaries = _mirrored_lengths(rng, 3, 9), _mirrored_lengths(rng, 1, 5)
        rows = [
            [*_tokens(rng, a), SEP_ID, *_tokens(rng, s), EOS_ID]
            for a, s in zip(articles, summaries, strict=True)
        ]
        batches.append(summary_collate(rows))
    return model, batches, partial(summarizer_loss, sep_id=SEP_ID)


def _bert_config():
    return bert.BertConfig(
        vocab_size=VOCAB, hidden=16, layers=1, heads=2, d_ff=32, max_len=16, dropout=0.0
    )


def _bert_ids(rng: random.Random):
    lengths = _mirrored_lengths(rng, 5, 12)
    ids = torch.zeros(8, 12, dtype=torch.long)
    for row, length in enumerate(lengths):
        ids[row, :length] = torch.tensor(_tokens(rng, length))
    return ids


def _bert_pretraining():
    torch.manual_seed(0)
    model = bert.BertForPretraining(_bert_config())
    rng, generator = random.Random(3), torch.Generator().manual_seed(3)
    batches = []
    for _ in range(3):
        ids = _bert_ids(rng)
        inputs, labels = mask_tokens(ids[:4], ids[:4] == 0, 4, VOCAB, generator, rate=0.3)
        inputs = torch.cat([inputs, torch.where(labels == -100, ids[4:], inputs)])
        labels = torch.cat([labels, torch.where(labels == -100, labels, ids[4:])])
        segments = (torch.arange(12) >= 6).long().expand(8, 12)
        batches.append(
            PretrainingBatch(
                inputs, segments, ids != 0, labels, torch.tensor([0, 1, 1, 0, 1, 0, 0, 1])
            )
        )
    return model, batches, bert.pretraining_loss


def _fine_tuning():
    torch.manual_seed(0)
    model = bert.BertClassifier(bert.Bert(_bert_config()), num_classes=2, dropout=0.0)
    rng = random.Random(4)
    batches = []
    for _ in range(3):
        ids = _bert_ids(rng)
        batches.append(ClassificationBatch(ids, ids != 0, torch.tensor([0, 1, 1, 0, 1, 1, 0, 0])))
    return model, batches, bert.classification_loss


def _t5():
    torch.manual_seed(0)
    model = t5.T5(t5.T5Config(vocab_size=VOCAB, d_model=32, d_kv=8, d_ff=64, layers=2, heads=4))
    generator = torch.Generator().manual_seed(1)
    batches = []
    for _ in range(3):
        ids = torch.randint(3, VOCAB, (8, 12), generator=generator)
        ids[::3, 9:] = 0  # some padding
        labels = torch.randint(3, VOCAB, (8, 7), generator=generator)
        labels[1::2, 5:] = -100
        batches.append(t5_data.T5Batch(ids, labels, ["task"] * 8))
    return model, batches, t5.seq2seq_loss


LOSSES = {  # every loss the course trains with
    "translation": _translation,
    "summarizer": _summarizer,
    "BERT pretraining": _bert_pretraining,
    "fine-tuning": _fine_tuning,
    "T5": _t5,
}


def _train(case: str):
    """(losses, checksum of the weights, rows of each batch the loss saw) after STEPS steps."""
    model, batches, loss_fn = LOSSES[case]()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    rows = []

    def counting_loss(model, batch):
        rows.append(next(len(field) for field in batch if isinstance(field, torch.Tensor)))
        return loss_fn(model, batch)

    history = fit(
        model,
        batches,
        optimizer=optimizer,
        loss_fn=counting_loss,
        steps=STEPS,
        grad_clip=1.0,
        device="cpu",
    )
    checksum = sum(p.double().sum().item() for p in model.parameters())
    return history.losses, checksum, rows


def _bypassing_loss(model, batch):
    """What the contract forbids: the model's hidden states, not model(...)."""
    return model.hidden_states(batch.ids).pow(2).mean()


def _worker(rank, size, port, folder):
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(size),
        COURSE_LIB_QUIET="1",
    )
    torch.set_num_threads(1)
    results = {case: _train(case) for case in LOSSES}
    model, batches, _ = _summarizer()
    optimizer = torch.optim.AdamW(model.parameters())
    try:
        fit(model, batches, optimizer=optimizer, loss_fn=_bypassing_loss, steps=1, device="cpu")
        results["bypass refused"] = ""
    except AttributeError as error:
        results["bypass refused"] = str(error)
    with open(os.path.join(folder, f"rank{rank}.json"), "w") as file:
        json.dump(results, file)
    torch.distributed.destroy_process_group()


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch without distributed")
def test_every_course_loss_trains_on_two_processes_as_on_one(tmp_path):
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    for case in LOSSES:
        single_losses, single_checksum, single_rows = _train(case)
        assert single_rows == [8] * STEPS
        for result in ranks:  # every process logs the mean loss of the whole batch
            losses, checksum, rows = result[case]
            assert rows == [4] * STEPS, f"{case}: each process should get half of every batch"
            assert losses == pytest.approx(single_losses, abs=TOLERANCE), case
            assert checksum == pytest.approx(single_checksum, abs=1e-3), case
        assert ranks[0][case][1] == ranks[1][case][1], f"{case}: the replicas differ"
        assert single_losses[0] != pytest.approx(single_losses[-1], abs=1e-3), case  # it trained
    for result in ranks:
        assert "bypasses the model's forward" in result["bypass refused"]


def test_every_course_loss_calls_the_models_forward():
    """The same contract, checked in one process: a hook on forward counts the calls."""
    for case, make in LOSSES.items():
        model, batches, loss_fn = make()
        calls = []
        model.register_forward_hook(lambda *_, calls=calls: calls.append(1))
        loss = loss_fn(model, batches[0])
        assert calls, f"the {case} loss does not call the model's forward"
        loss.backward()
        assert all(p.grad is not None for p in model.parameters() if p.requires_grad), case


def test_shard_cuts_every_tensor_and_row_list():
    batch = t5_data.T5Batch(
        torch.arange(10).reshape(5, 2), torch.arange(5)[:, None], ["a", "b", "c", "d", "e"]
    )
    first, second = (distributed.shard(batch, rank, 2) for rank in range(2))
    assert first.input_ids.tolist() == [[0, 1], [2, 3], [4, 5]] and first.tasks == ["a", "b", "c"]
    assert second.labels.tolist() == [[3], [4]] and second.tasks == ["d", "e"]
    parts = distributed.shard([batch, batch], 1, 2)
    assert [part.tasks for part in parts] == [["d", "e"], ["d", "e"]]
    assert distributed.shard({"x": torch.ones(4)}, 0, 2)["x"].shape == (2,)
    assert distributed.shard(batch, 0, 1) is batch


def test_mixed_precision_is_refused_on_the_cpu():
    model, batches, loss_fn = _t5()
    optimizer = torch.optim.AdamW(model.parameters())
    with pytest.raises(ValueError, match="needs a CUDA device"):
        fit(
            model,
            batches,
            optimizer=optimizer,
            loss_fn=loss_fn,
            steps=1,
            device="cpu",
            mixed_precision=True,
        )


def test_cpu_training_keeps_the_readable_attention_and_float32():
    model, batches, loss_fn = _t5()
    optimizer = torch.optim.AdamW(model.parameters())
    fit(model, batches, optimizer=optimizer, loss_fn=loss_fn, steps=1, device="cpu")
    assert not any(getattr(module, "fast", False) for module in model.modules())
    assert all(p.dtype == torch.float32 for p in model.parameters())
    seen = []

    def attention_paths(trained):
        seen.append(all(a.fast for a in trained.modules() if isinstance(a, t5.T5Attention)))
        return 0.0

    fit(
        model,
        batches,
        optimizer=optimizer,
        loss_fn=loss_fn,
        steps=1,
        device="cpu",
        fast_attention=True,
        evaluate=attention_paths,
    )
    assert seen and all(seen)  # fast while training
    assert not any(a.fast for a in model.modules() if isinstance(a, t5.T5Attention))  # restored
