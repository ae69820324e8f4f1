"""course_lib: the helper package of "Attention and Transformers, step by step".

The notebooks are the textbook; this package is its appendix, one module per concept, in the
order the course meets them (a module imports only modules above it in this list):

    device                choose CPU/CUDA/MPS and seed everything (`setup`)       notebook 00
    packages              libraries imported on first use, files inside packages  every notebook
    data                  the cache, stable splits, padding, length-grouped batches every notebook
    distributed           data-parallel training under torchrun                  every notebook
    training              the loop `fit`, schedules, recipes, `evaluating`        every notebook
    metrics               every score and its trivial baseline                    every notebook
    plots                 loss curves, attention heatmaps, masks, bars, bias       every notebook
    diagrams              architecture figures: seq2seq, Transformer, BERT, T5    notebooks 02-07
    timing                fair timings (warm-up, median, in turns)                notebooks 01, 03
    softmax               scores to probabilities                                 notebook 00
    translation_data      English -> French number and date phrases               notebook 01
    rnn                   RNN/GRU/LSTM cells, the GRU encoder-decoder              notebook 01
    seq2seq               the translator interface, its loss, decoding, report    notebooks 01-04
    attention             scaled dot-product attention, masks, GRU + attention     notebook 02
    multi_head_attention  split/merge heads, MultiHeadAttention                    notebook 03
    transformer           positional encoding, encoder/decoder layers, beam        notebook 04
    summarization_data    docstring summaries, byte-level BPE tokenizer           notebook 05
    decoder_only          GPT-style LM, summary loss mask, generation             notebook 05
    pretraining_data      gensim corpus, WordPiece, MLM masking, NSP pairs        notebooks 06, 06b
    facts_data            facts about countries, whole-fact masking, pairs        notebooks 06, 06b
    bert                  BERT encoder, MLM/NSP heads, losses, sentence vectors   notebooks 06, 06b
    bert_training         pretraining, fill-in, fine-tuning (pairs, folds)        notebooks 06, 06b
    t5_data               five text-to-text tasks, span corruption, mixtures      notebook 07
    t5                    T5: RMSNorm, relative position bias, loss, generation   notebook 07
    t5_training           T5's training and its GLUE-style table                  notebook 07
    hugging_face          collate, pairs for map, a word tokenizer for pipelines  notebooks 08, 08b
    check                 one checker per graded exercise (`check.softmax(...)`)  every notebook

Apart from the appendix, `course_lib.machinery` holds what instructors and maintainers use:
authoring (solutions -> student notebooks), grading, execution, saved results, the benchmark,
the command line (`python -m course_lib --help`) and the pytest plugin.
"""

from .device import choose_device, environment_report, seed_everything, setup
from .training import History, fit

__all__ = ["History", "choose_device", "environment_report", "fit", "seed_everything", "setup"]
__version__ = "0.1.0"
