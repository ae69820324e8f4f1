"""flags_for: signs of tampering or shortcuts in a submission's code, read without running it."""

from pathlib import Path

import pytest

from course_lib.machinery.flags import Cell, flags_for
from course_lib.machinery.grading import load_course, plan_steps, read_submission
from course_lib.machinery.paths import COURSE_ROOT


@pytest.mark.parametrize(
    "code, exercise, expected",
    [
        ("import course_lib.check as c\nc.softmax = print", False, "assigns to course_lib.check"),
        ("from course_lib import check\ncheck.softmax = print", False, "assigns to course_lib"),
        ("import torch\ntorch.allclose = lambda *a, **k: True", False, "assigns to torch.allclose"),
        ("import torch as t\nt.Tensor.eq = None", False, "assigns to torch.Tensor.eq"),
        ("import sys\nsys.modules['torch'] = None", False, "assigns to sys.modules"),
        ("import sys\ndel sys.modules['course_lib']", False, "deletes sys.modules"),
        ("import torch\nsetattr(torch, 'equal', print)", False, "setattr() on torch"),
        ("import subprocess\nsubprocess.Popen(['sleep', '9'])", False, "starts or signals"),
        ("import os\nos.system('ls')", False, "os.system"),
        ("import os\nif os.fork() == 0:\n    os.setsid()", False, "os.fork"),
        ("!rm -rf ~/course", False, "deletes or moves files from a shell command"),
        ("%%bash\nls", False, "runs a shell command"),
        ("import shutil\nshutil.rmtree('solutions')", False, "shutil.rmtree"),
        ("from pathlib import Path\nPath('x').unlink()", False, "deletes files (.unlink())"),
        ("import gc\ngc.get_objects()", False, "imports gc"),
        ("import ctypes", False, "imports ctypes"),
        ("f = lambda: 0\nf.__closure__", False, "__closure__"),
        ("exec('print(1)')", False, "calls exec()"),
        ("__import__('os')", False, "calls __import__()"),
        ("get_ipython().events.register('pre_run_cell', print)", False, "get_ipython()"),
        ("import traceback\ntraceback.extract_stack()", False, "imports traceback"),
        ("import sys\nf = sys.modules['course_lib.softmax'].softmax", False, "uses sys.modules"),
        ("import contextlib, io\ncontextlib.redirect_stdout(io.StringIO())", False, "redirect"),
        ("import sys\nsys.settrace(None)", False, "uses .settrace"),
        (
            "import course_lib.softmax\n\ndef softmax(x, dim=-1):\n"
            "    return course_lib.softmax.softmax(x, dim)",
            True,
            "exercise cell uses the course's reference course_lib.softmax.softmax",
        ),
        (
            "from course_lib.softmax import softmax as reference\n\ndef softmax(x, dim=-1):\n"
            "    return reference(x, dim)",
            True,
            "uses the course's reference course_lib.softmax.softmax",
        ),
        (
            "from course_lib import transformer\n\n"
            "class EncoderLayer(transformer.EncoderLayer):\n    pass",
            True,
            "subclasses the course's reference course_lib.transformer.EncoderLayer",
        ),
    ],
)
def test_each_sign_is_flagged_with_its_cell(code, exercise, expected):
    flags = flags_for([Cell("softmax-solution" if exercise else "cell 3", code, exercise)])
    assert any(expected in flag for flag in flags), flags
    assert all(flag.startswith(("softmax-solution: ", "cell 3: ")) for flag in flags)


@pytest.mark.parametrize(
    "code",
    [
        "import torch\nx = torch.zeros(3)\nx[0] = 1.0",  # a tensor, not the torch module
        "import torch.nn as nn\nlayer = nn.Linear(2, 2)\nlayer.weight.data.zero_()",
        "import torch.nn as nn\nlayers = list(nn.Sequential(nn.ReLU()).modules())",
        "def softmax(x, dim=-1):\n    return softmax(x - 1, dim)",  # its own name, recursive
        "from course_lib.multi_head_attention import MultiHeadAttention\n\n"
        "class EncoderLayer:\n    attention = MultiHeadAttention",  # using an earlier model
        "print('not valid python (",  # a syntax error is the learner's problem, not a flag
    ],
)
def test_ordinary_code_is_not_flagged(code):
    assert flags_for([Cell("softmax-solution", code, True)]) == []


def test_aliases_from_earlier_cells_carry_over():
    cells = [Cell("cell 1", "import torch as T", False), Cell("cell 2", "T.equal = id", False)]
    assert flags_for(cells) == ["cell 2: assigns to torch.equal"]


@pytest.mark.parametrize("folder", ["solutions", "notebooks"])
def test_the_courses_own_notebooks_raise_no_flag(folder):
    course = load_course(COURSE_ROOT / "solutions")
    for path in sorted((COURSE_ROOT / folder).glob("*.ipynb")):
        steps = plan_steps(read_submission(Path(path)), course[path.stem])
        cells = [Cell(s.label, s.code, s.solution) for s in steps if s.exercise is None]
        assert flags_for(cells) == [], path.name
