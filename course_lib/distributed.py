"""Training on several processes with `fit`, unchanged: data parallelism with PyTorch's
DistributedDataParallel (DDP).

Start any script that calls `fit` with `torchrun`, for example (see the README)

    torchrun --nproc_per_node=2 -m course_lib.machinery.pretrain_bert --steps 200

and `fit` notices the launcher's environment (WORLD_SIZE > 1): it joins the process group (gloo on
CPU, nccl on CUDA), wraps the model in DDP, and gives each of the N processes its 1/N share of
every batch. Each process computes the loss of its share; DDP averages the gradients across
processes during `backward()`, so every process takes the same optimizer step that one process
would take on the whole batch (exactly so when N divides the batch size: a mean of equal-sized
means is the mean). The loss `fit` records is averaged across processes too.

What the loss function must do: call the model itself (`model(...)`), not one of its other
methods or submodules: DDP synchronises gradients through the model's `forward`. Every loss in the
course does (tests/test_distributed.py trains each of them on two processes), and the wrapper
below refuses the others with an error that says so, instead of training each process on its own
share of the batch without a word.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel


def launched() -> bool:
    """True when a launcher such as torchrun started several processes (WORLD_SIZE > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def active() -> bool:
    """True when this process is part of an initialised process group of several processes."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank_and_size() -> tuple[int, int]:
    return (dist.get_rank(), dist.get_world_size()) if active() else (0, 1)


def join(device: torch.device) -> torch.device:
    """Join the process group torchrun describes in the environment, if not done yet; on CUDA,
    each process takes the GPU numbered LOCAL_RANK. Returns the device this process uses."""
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return device


class _Wrapped(DistributedDataParallel):
    """DDP that lets a loss read the model's settings (`model.config`, `model.pad_id`) and
    refuses the model's methods and submodules, which would bypass `forward`."""

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            value = getattr(self.module, name)
        if callable(value):
            raise AttributeError(
                f"the loss called model.{name}, which bypasses the model's forward: under "
                "DistributedDataParallel gradients are averaged only through model(...). Compute "
                "the loss from model(...)'s output (see course_lib.training.Loss)."
            )
        return value


def wrap(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """The model inside DistributedDataParallel (see `_Wrapped`)."""
    device_ids = [device.index] if device.type == "cuda" else None
    return _Wrapped(model, device_ids=device_ids)


def shard(batch, rank: int, size: int):
    """This process's share of `batch`: every tensor (in tuples, named tuples, lists, dicts) cut
    along its first axis into `size` nearly equal parts, part `rank` kept; lists of plain values
    (one per row, such as task names) are cut the same way."""
    if size == 1:
        return batch
    if isinstance(batch, torch.Tensor):
        return torch.tensor_split(batch, size)[rank]
    if isinstance(batch, dict):
        return {key: shard(value, rank, size) for key, value in batch.items()}
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):
        return type(batch)(*(shard(value, rank, size) for value in batch))
    if isinstance(batch, (list, tuple)):
        if batch and not any(isinstance(item, (torch.Tensor, tuple, list, dict)) for item in batch):
            rows = torch.tensor_split(torch.arange(len(batch)), size)[rank].tolist()
            return type(batch)(batch[row] for row in rows)
        return type(batch)(shard(value, rank, size) for value in batch)
    return batch


def mean_across_processes(value: float, device: torch.device) -> float:
    """The mean of `value` over all processes (itself when there is one)."""
    if not active():
        return value
    total = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(total)
    return total.item() / dist.get_world_size()
