"""Measured speed and quality: `python -m course_lib.machinery.bench`, one module per job.

    implementation  the course's models against their references (`torch.nn`, `transformers`):
                    ratios of forward + backward time, same weights, timed in turns
    gpu             throughput and model FLOP utilisation on a CUDA GPU, when there is one
    notebooks       every solutions notebook executed headless: wall time, peak memory, and the
                    headline results it recorded (`course_lib.machinery.results.record`)
    readme          the README's generated tables, from the measurements
    measurements    where the measurements are kept (benchmarks/*.json) and the machine they
                    were taken on

Command line (`__main__`):

    python -m course_lib.machinery.bench              implementation cost (a few minutes), plus
                                                      GPU throughput when CUDA is present
    python -m course_lib.machinery.bench --notebooks  time every solutions notebook (~16 minutes)
        [--only NAME ...] [--inplace]                 or only these; store the outputs
    python -m course_lib.machinery.bench --readme     rewrite the README's generated tables
"""
