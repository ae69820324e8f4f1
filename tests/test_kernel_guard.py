"""kernel_guard: the snapshot sees and undoes patches; only the key signs a pass."""

import sys

import pytest
import torch

import course_lib.check as check
from course_lib.machinery import kernel_guard
from course_lib.machinery.kernel_guard import _Snapshot, pass_line, signature


@pytest.fixture
def snapshot():
    taken = _Snapshot()
    yield taken
    taken.restore()  # whatever a test broke is put back for the tests after it


def test_an_untouched_process_shows_no_change(snapshot):
    assert snapshot.changes() == []


def test_patched_functions_classes_and_modules_are_seen_and_put_back(snapshot):
    real_allclose, real_softmax = torch.allclose, check.softmax
    torch.allclose = lambda *a, **k: True
    check.softmax = lambda fn, **kw: print("✅")
    torch.Tensor.allclose = lambda *a, **k: True  # shadows the method it inherits
    del sys.modules["course_lib.check.framework"]
    changes = snapshot.changes()
    assert "torch.allclose was replaced" in changes
    assert "course_lib.check.softmax was replaced" in changes
    assert "torch.Tensor.allclose was added" in changes
    assert any("sys.modules: 1 of its modules (course_lib)" in change for change in changes)
    snapshot.restore()
    assert torch.allclose is real_allclose and check.softmax is real_softmax
    assert "allclose" not in torch.Tensor.__dict__ and "course_lib.check.framework" in sys.modules
    assert snapshot.changes() == []


def test_data_that_libraries_change_themselves_is_not_a_patch(snapshot):
    flag = kernel_guard.PASS_MARK
    kernel_guard.PASS_MARK = "changed"  # a value, not a function, class or module
    try:
        assert snapshot.changes() == []
    finally:
        kernel_guard.PASS_MARK = flag


def test_a_pass_line_is_bound_to_its_key_check_and_nonce():
    line = pass_line("key", "softmax", "n1")
    assert line.startswith(kernel_guard.PASS_MARK) and signature("key", "softmax", "n1") in line
    assert line != pass_line("other key", "softmax", "n1")
    assert line != pass_line("key", "softmax", "n2")
    assert line != pass_line("key", "cross-entropy", "n1")


def test_install_runs_the_graders_check_and_refuses_patches_made_during_it(capsys):
    namespace = {"softmax": lambda x, dim=-1: torch.softmax(x, dim=dim)}
    guard = kernel_guard.install("k", {"sm": "check.softmax(softmax)"}, namespace)
    guard.run("sm", "n")
    assert pass_line("k", "sm", "n") in capsys.readouterr().out

    def cheating_softmax(x, dim=-1):
        torch.allclose = lambda *a, **k: True  # patches while being checked
        return x * 0

    namespace["softmax"] = cheating_softmax
    with pytest.raises(check.CheckFailed, match="replaced torch.allclose"):
        guard.run("sm", "n2")
    assert pass_line("k", "sm", "n2") not in capsys.readouterr().out
    assert not getattr(torch.allclose, "__name__", "") == "<lambda>"  # put back


class _Liar(torch.Tensor):
    """A tensor that answers the checker's comparisons itself."""

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if func in (torch.allclose, torch.equal, torch.Tensor.allclose, torch.Tensor.equal):
            return True
        return super().__torch_function__(func, types, args, kwargs or {})


def test_a_tensor_subclass_cannot_answer_the_checkers_comparisons():
    with pytest.raises(check.CheckFailed, match="is wrong"):
        check.softmax(lambda x, dim=-1: (x * 0).as_subclass(_Liar))
    check.softmax(lambda x, dim=-1: torch.softmax(x, dim=dim).as_subclass(_Liar))  # still right


def test_libraries_patching_themselves_are_left_alone(snapshot):
    """PyTorch's compiler wraps torch.manual_seed when it is imported, and optimizers wrap their
    class's step: library code, not the notebook's, so neither flagged nor undone."""
    import torch._dynamo  # noqa: F401, PLC0415 - importing it is the point

    optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))])
    optimizer.step()
    assert snapshot.changes() == []
    torch.nn.Module.a_library_method = torch.nn.Module.apply  # a library adding a method
    try:
        assert snapshot.changes() == []
    finally:
        del torch.nn.Module.a_library_method
