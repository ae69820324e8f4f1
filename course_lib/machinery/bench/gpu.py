"""Throughput and model FLOP utilisation (MFU) on a CUDA GPU, trained with `fit`'s CUDA
settings: bfloat16 autocast, fused AdamW, the fast attention path."""

from __future__ import annotations

import time

import torch
import transformers

from ...training import use_fast_attention
from ...transformer import TransformerStack
from .implementation import bert_pair, bert_scores_sum

PEAK_BF16_FLOPS = {
    "H200": 989e12,
    "H100": 989e12,
    "A100": 312e12,
    "L40S": 362e12,
    "L4": 121e12,
    "A10": 125e12,
}  # dense bfloat16 tensor-core peaks from the vendors' sheets


def peak_flops(name: str) -> float | None:
    for key, flops in PEAK_BF16_FLOPS.items():
        if key in name:
            return flops
    return None


def training_flops_per_token(parameters: int, layers: int, width: int, length: int) -> float:
    """6 FLOPs per parameter per token (forward 2, backward 4) plus attention's
    12 × layers × width × length (PaLM's appendix B estimate)."""
    return 6 * parameters + 12 * layers * width * length


def _measure(label, model, loss, tokens_per_step, flops_per_token, steps) -> dict:
    device_name = torch.cuda.get_device_name()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)

    def step():
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            value = loss()
        value.backward()
        optimizer.step()

    for _ in range(10):
        step()
    torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    torch.cuda.synchronize()
    seconds = (time.perf_counter() - started) / steps
    tokens = tokens_per_step / seconds
    peak = peak_flops(device_name)
    return {
        "what": label,
        "device": device_name,
        "ms_per_step": 1000 * seconds,
        "tokens_per_s": tokens,
        "mfu": None if peak is None else tokens * flops_per_token / peak,
    }


def gpu_throughput(steps: int = 50) -> list[dict]:
    """Course BERT and `transformers` BERT (2 × 128, batch 512 × 64; and BERT-base), and the
    course Transformer against `torch.nn.Transformer`."""
    transformers.logging.set_verbosity_error()
    device = torch.device("cuda")
    rows = []
    for batch, length, layers, width in ((512, 64, 2, 128), (256, 128, 12, 768)):
        vocab_size = 8000 if width == 128 else 30522
        theirs, ours = (model.to(device) for model in bert_pair(vocab_size, width, layers, length))
        ids = torch.randint(5, vocab_size, (batch, length), device=device)
        segments = torch.zeros_like(ids)
        parameters = sum(p.numel() for p in ours.parameters())
        flops = training_flops_per_token(parameters, layers, width, length)
        shape = f"BERT {layers} × {width}, batch {batch} × {length}"
        for name, model, is_theirs in (("course", ours, False), ("transformers", theirs, True)):
            rows.append(
                _measure(
                    f"{shape}, {name}",
                    model,
                    lambda m=model, t=is_theirs, i=ids, g=segments: bert_scores_sum(m, i, g, t),
                    batch * length,
                    flops,
                    steps,
                )
            )
    reference = torch.nn.Transformer(128, 4, 2, 2, 512, dropout=0.0, batch_first=True).to(device)
    ours = use_fast_attention(TransformerStack(128, 4, 2, 2, 512).to(device))
    source = torch.randn(512, 40, 128, device=device)
    target = torch.randn(512, 30, 128, device=device)
    causal = torch.ones(30, 30, dtype=torch.bool, device=device).tril()
    float_causal = torch.nn.Transformer.generate_square_subsequent_mask(30, device=device)
    flops = training_flops_per_token(sum(p.numel() for p in ours.parameters()), 4, 128, 35)
    shape = "Transformer 2+2 × 128, batch 512, 40 → 30"
    rows.append(
        _measure(
            f"{shape}, course",
            ours,
            lambda: ours(source, target, target_mask=causal).float().pow(2).mean(),
            512 * 70,
            flops,
            steps,
        )
    )
    rows.append(
        _measure(
            f"{shape}, torch.nn",
            reference,
            lambda: reference(source, target, tgt_mask=float_causal).float().pow(2).mean(),
            512 * 70,
            flops,
            steps,
        )
    )
    return rows
