"""BERT's MLM + NSP pretraining on notebook 06's Wikipedia and news text as a script, to run on one
process or many:

    python -m course_lib.machinery.pretrain_bert --steps 200
    torchrun --nproc_per_node=2 -m course_lib.machinery.pretrain_bert --steps 200

Under torchrun, `fit` trains data-parallel (see `course_lib.distributed`): `--batch-size` is the
global batch, shared among the processes.
"""

from __future__ import annotations

import argparse

from .. import bert, bert_training, distributed
from ..device import setup
from ..pretraining_data import load_pretraining_corpus


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=64, help="global batch size")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--device", default=None, help="cpu, cuda or mps (default: the best)")
    args = parser.parse_args(argv)
    device = setup(seed=0, device=args.device)
    corpus = load_pretraining_corpus()
    config = bert.BertConfig(
        vocab_size=corpus.vocab_size,
        hidden=128,
        layers=2,
        heads=4,
        d_ff=512,
        max_len=64,
        dropout=0.0,
    )
    model = bert.BertForPretraining(config)
    history = bert_training.pretrain(
        model,
        corpus,
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        eval_every=max(args.steps // 4, 1),
        device=device,
    )
    rank, size = distributed.rank_and_size()
    if rank == 0:
        final = history.last_evaluation
        print(
            f"{size} process(es), {history.steps[-1]} steps of {args.batch_size} pairs in "
            f"{history.seconds:.0f} s: MLM accuracy {final['MLM accuracy']:.1%}, "
            f"NSP accuracy {final['NSP accuracy']:.1%}"
        )


if __name__ == "__main__":
    main()
