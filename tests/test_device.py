import random

import numpy as np
import pytest
import torch

import course_lib
from course_lib.device import choose_device, environment_report, seed_everything


def test_default_device_is_the_best_available(monkeypatch):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    expected = (
        "cuda"
        if torch.cuda.is_available()
        else ("mps" if torch.backends.mps.is_available() else "cpu")
    )
    assert choose_device().type == expected


def test_cpu_can_always_be_forced(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert choose_device() == torch.device("cpu")
    assert choose_device("cpu") == torch.device("cpu")


def test_unknown_device_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        choose_device("tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_missing_device_is_an_error_not_a_silent_fallback():
    with pytest.raises(RuntimeError, match="no cuda"):
        choose_device("cuda")


def test_setup_seeds_python_numpy_and_torch():
    def draw():
        return random.random(), float(np.random.rand()), float(torch.rand(1))

    course_lib.setup(seed=123)
    first = draw()
    course_lib.setup(seed=123)
    assert draw() == first
    course_lib.setup(seed=124)
    assert draw() != first


def test_seed_must_be_an_int():
    with pytest.raises(TypeError, match="seed must be an int"):
        seed_everything("42")


def test_environment_report_names_versions_and_device():
    report = environment_report()
    assert report["torch"] == torch.__version__
    assert report["device"] == str(choose_device())
