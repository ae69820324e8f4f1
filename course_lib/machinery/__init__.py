"""The course's machinery: what authors, instructors and maintainers touch, apart from the
learner's appendix (the modules one level up). Nothing in the appendix imports from here.

    paths           where the repository's folders are
    catalog         one entry per notebook: title, what it builds, its graded exercises
    authoring       solutions/ -> student notebooks/ (`python -m course_lib build-notebooks`)
    course          the course side of grading: each notebook's graded exercises
    execution       a guarded kernel for the grader; executing whole notebooks headless
    limited_kernel  a grading kernel under a memory cap
    kernel_guard    the grader's checks inside a grading kernel: snapshot, restore, signed passes
    flags           signs of tampering or shortcuts in a submission's code, for the instructor
    grading         grade submissions (`python -m course_lib grade`), `grade_this_notebook`
    progress        a learner's progress table (`python -m course_lib progress`), cached
    guide           the instructors' guide, generated (`python -m course_lib build-guide`)
    results         a notebook's saved results, for a later notebook and for the benchmark
    cli             the command line, `python -m course_lib`
    pytest_plugin   nbval's output comparison without stderr; the `slow` test tier
    pretrain_bert   BERT's MLM + NSP pretraining as a script, for torchrun
    bench           measured speed and quality (`python -m course_lib.machinery.bench`)
"""
