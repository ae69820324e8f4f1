"""Data-parallel training: `fit` under two CPU processes (gloo), as torchrun would start them,
follows the same loss trajectory as one process on the same global batches."""

import json
import os
import socket

import pytest
import torch
import torch.multiprocessing as mp

from course_lib import distributed, t5, t5_data
from course_lib.training import fit

STEPS = 6
TOLERANCE = 1e-5  # float32: the two ways of summing differ in the last bits only


def _model_and_batches():
    torch.manual_seed(0)
    model = t5.T5(t5.T5Config(vocab_size=40, d_model=32, d_kv=8, d_ff=64, layers=2, heads=4))
    generator = torch.Generator().manual_seed(1)
    batches = []
    for _ in range(3):
        ids = torch.randint(3, 40, (8, 12), generator=generator)
        ids[::3, 9:] = 0  # some padding
        labels = torch.randint(3, 40, (8, 7), generator=generator)
        labels[1::2, 5:] = -100
        batches.append(t5_data.T5Batch(ids, labels, ["task"] * 8))
    return model, batches


def _train(device="cpu"):
    model, batches = _model_and_batches()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    history = fit(
        model,
        batches,
        optimizer=optimizer,
        loss_fn=t5.seq2seq_loss,
        steps=STEPS,
        grad_clip=1.0,
        device=device,
    )
    return history.losses, [p.detach().clone() for p in model.parameters()]


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
    losses, parameters = _train()
    checksum = sum(p.double().sum().item() for p in parameters)
    with open(os.path.join(folder, f"rank{rank}.json"), "w") as file:
        json.dump({"losses": losses, "checksum": checksum}, file)
    torch.distributed.destroy_process_group()


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch without distributed")
def test_two_processes_follow_the_single_process_loss_trajectory(tmp_path):
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    single_losses, single_parameters = _train()
    single_checksum = sum(p.double().sum().item() for p in single_parameters)
    for result in ranks:  # every process logs the mean loss of the whole batch
        assert result["losses"] == pytest.approx(single_losses, abs=TOLERANCE)
        assert result["checksum"] == pytest.approx(single_checksum, abs=1e-3)
    assert ranks[0]["checksum"] == ranks[1]["checksum"]  # the replicas stay identical
    assert single_losses[0] != pytest.approx(single_losses[-1], abs=1e-3)  # it did train


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
    model, batches = _model_and_batches()
    optimizer = torch.optim.AdamW(model.parameters())
    with pytest.raises(ValueError, match="needs a CUDA device"):
        fit(
            model,
            batches,
            optimizer=optimizer,
            loss_fn=t5.seq2seq_loss,
            steps=1,
            device="cpu",
            mixed_precision=True,
        )


def test_cpu_training_keeps_the_readable_attention_and_float32():
    model, batches = _model_and_batches()
    optimizer = torch.optim.AdamW(model.parameters())
    fit(model, batches, optimizer=optimizer, loss_fn=t5.seq2seq_loss, steps=1, device="cpu")
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
        loss_fn=t5.seq2seq_loss,
        steps=1,
        device="cpu",
        fast_attention=True,
        evaluate=attention_paths,
    )
    assert seen and all(seen)  # fast while training
    assert not any(a.fast for a in model.modules() if isinstance(a, t5.T5Attention))  # restored
