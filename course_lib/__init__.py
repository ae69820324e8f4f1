"""course_lib: the helper package of "Attention and Transformers, step by step".

The notebooks are the textbook; this package is its appendix. Modules follow the course order:

    device                choose CPU/CUDA/MPS and seed everything (`setup`)     notebook 00
    softmax               scores to probabilities                               notebook 00
    training              the one training loop, `fit`, and its `History`       every notebook
    plots                 loss curves and attention heatmaps                    every notebook
    timing                fair timings (warm-up, median)                        notebooks 01, 03
    translation_data      English -> French number and date phrases             notebook 01
    rnn                   RNN/GRU/LSTM cells, the GRU encoder-decoder            notebook 01
    seq2seq               translation training recipe, exact match, BLEU         notebooks 01-04
    attention             scaled dot-product attention, masks, GRU + attention   notebook 02
    multi_head_attention  split/merge heads, MultiHeadAttention                  notebook 03
    transformer           positional encoding, encoder/decoder layers, beam      notebook 04
    summarization_data    docstring summaries, byte-level BPE tokenizer          notebook 05
    decoder_only          GPT-style LM, summary loss mask, generation, ROUGE     notebook 05
    bert                  BERT encoder, MLM/NSP heads, masking, NSP pairs        notebook 06
    pretraining_data      gensim corpus, WordPiece, NSP/MLM batches, polarity    notebooks 06, 06b
    bert_training         pretraining, cross-validated fine-tuning, MiniLM       notebooks 06, 06b
    hugging_face          collate for transformers models, Trainer's metric      notebook 08
    check                 one checker per graded exercise (`check.softmax(...)`) every notebook

and, for instructors: `authoring` (solutions -> student notebooks), `grading` (grade submissions),
`execution` (run notebooks headless). Command line: `python -m course_lib --help`.
"""

from .device import choose_device, environment_report, seed_everything, setup
from .training import History, fit

__all__ = ["History", "choose_device", "environment_report", "fit", "seed_everything", "setup"]
__version__ = "0.1.0"
