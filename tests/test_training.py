import math

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import course_lib
from course_lib.training import (
    TRANSLATION_RECIPE,
    History,
    Recipe,
    adjusted,
    classification_loss,
    evaluating,
    fit,
    progress_bar,
    to_device,
    train,
    training_summary,
    warmup_linear_schedule,
    warmup_schedule,
)


def _problem(seed=0, n=256):
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (n,), generator=generator)
    points = torch.randn(n, 2, generator=generator) + 2 * (labels[:, None] * 2 - 1)
    return TensorDataset(points, labels)


def _model(dropout=0.0):
    return torch.nn.Sequential(
        torch.nn.Linear(2, 16), torch.nn.ReLU(), torch.nn.Dropout(dropout), torch.nn.Linear(16, 2)
    )


def test_fit_learns_and_records_every_step():
    course_lib.setup(seed=0)
    model = _model()
    loader = DataLoader(_problem(), batch_size=32, shuffle=True)
    history = fit(
        model,
        loader,
        optimizer=torch.optim.Adam(model.parameters(), lr=1e-2),
        epochs=3,
        device="cpu",
    )
    assert history.steps == list(range(1, 3 * len(loader) + 1))
    assert len(history.losses) == len(history.steps)
    assert sum(history.losses[-4:]) / 4 < 0.5 * sum(history.losses[:4]) / 4
    assert history.seconds > 0


def test_stopping_rules_steps_epochs_and_time():
    loader = DataLoader(_problem(), batch_size=32)  # 8 batches per epoch
    model = _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    assert fit(model, loader, optimizer=optimizer, steps=5, device="cpu").steps[-1] == 5
    assert fit(model, loader, optimizer=optimizer, epochs=2, device="cpu").steps[-1] == 16
    assert fit(model, loader, optimizer=optimizer, steps=5, epochs=10, device="cpu").steps[-1] == 5
    timed = fit(model, loader, optimizer=optimizer, max_seconds=0.05, device="cpu")
    assert timed.seconds >= 0.05 and len(timed.steps) >= 1


def test_evaluation_hook_runs_every_k_steps_and_at_the_end_in_eval_mode():
    model = _model(dropout=0.5)
    seen_modes = []

    def evaluate(m):
        seen_modes.append(m.training)
        assert not torch.is_grad_enabled()
        return {"accuracy": 0.5, "loss": 1.0}

    history = fit(
        model,
        DataLoader(_problem(), batch_size=32),
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        steps=10,
        evaluate=evaluate,
        eval_every=4,
        device="cpu",
    )
    assert [record["step"] for record in history.evaluations] == [4, 8, 10]
    assert seen_modes == [False, False, False]
    assert model.training  # back in training mode afterwards
    assert history.metric("accuracy") == ([4, 8, 10], [0.5, 0.5, 0.5])
    assert history.last_evaluation == {"step": 10, "accuracy": 0.5, "loss": 1.0}
    with pytest.raises(KeyError, match="known metrics"):
        history.metric("bleu")


def test_checkpoint_resume_continues_exactly(tmp_path):
    """6 steps, save, resume for 6 more == 12 steps straight: same losses, same weights.
    Shuffled batches and dropout make this a real test of the saved random state."""
    dataset = _problem()

    def run(steps, checkpoint=None, resume=False, model=None):
        if model is None:
            torch.manual_seed(0)
            model = _model(dropout=0.3)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
        if checkpoint is None:
            torch.manual_seed(1)
        loader = DataLoader(dataset, batch_size=32, shuffle=True)
        history = fit(
            model,
            loader,
            optimizer=optimizer,
            steps=steps,
            device="cpu",
            checkpoint=checkpoint,
            resume=resume,
        )
        return model, history

    straight_model, straight = run(12)
    path = tmp_path / "run.pt"
    torch.manual_seed(0)
    first_model = _model(dropout=0.3)
    torch.manual_seed(1)
    loader = DataLoader(dataset, batch_size=32, shuffle=True)
    fit(
        first_model,
        loader,
        optimizer=torch.optim.Adam(first_model.parameters(), lr=1e-2),
        steps=6,
        device="cpu",
        checkpoint=path,
    )
    torch.manual_seed(999)  # whatever happens in between must not matter
    resumed_model, resumed = run(12, checkpoint=path, resume=True, model=_model(dropout=0.3))
    assert resumed.steps == straight.steps
    assert resumed.losses == pytest.approx(straight.losses, abs=1e-6)
    for a, b in zip(straight_model.parameters(), resumed_model.parameters(), strict=True):
        torch.testing.assert_close(a, b)


def test_checkpoint_every_writes_the_file(tmp_path):
    model = _model()
    path = tmp_path / "nested" / "ckpt.pt"
    fit(
        model,
        DataLoader(_problem(), batch_size=64),
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        steps=3,
        checkpoint=path,
        checkpoint_every=1,
        device="cpu",
    )
    state = torch.load(path, weights_only=True)
    assert state["step"] == 3 and len(state["history"]["losses"]) == 3


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({}, "stopping rule"),
        ({"steps": 0}, "steps must be a positive int"),
        ({"steps": 2, "resume": True}, "need checkpoint"),
        ({"max_seconds": -1}, "max_seconds must be positive"),
    ],
)
def test_bad_arguments_are_explained(kwargs, message):
    model = _model()
    with pytest.raises(ValueError, match=message):
        fit(
            model,
            [(torch.zeros(1, 2), torch.zeros(1, dtype=torch.long))],
            optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
            **kwargs,
        )


def test_one_shot_generators_are_refused():
    model = _model()
    batches = ((torch.zeros(1, 2), torch.zeros(1, dtype=torch.long)) for _ in range(3))
    with pytest.raises(TypeError, match="re-iterable"):
        fit(model, batches, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), steps=2)


def test_loss_fn_must_return_a_scalar_and_nan_is_reported():
    model = _model()
    batches = [(torch.zeros(4, 2), torch.zeros(4, dtype=torch.long))]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(TypeError, match="scalar tensor"):
        fit(
            model, batches, optimizer=optimizer, steps=1, device="cpu", loss_fn=lambda m, b: m(b[0])
        )
    with pytest.raises(FloatingPointError, match="step 1"):
        fit(
            model,
            batches,
            optimizer=optimizer,
            steps=1,
            device="cpu",
            loss_fn=lambda m, b: m(b[0]).sum() * float("nan"),
        )


def test_empty_data_is_reported():
    model = _model()
    with pytest.raises(ValueError, match="no batch"):
        fit(model, [], optimizer=torch.optim.SGD(model.parameters(), lr=0.1), epochs=1)


def test_progress_bar_is_silent_under_test(capsys):
    for _ in progress_bar(range(3), desc="quiet"):
        pass
    model = _model()
    fit(
        model,
        DataLoader(_problem(), batch_size=64),
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        steps=2,
        device="cpu",
    )
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


def test_progress_bar_shows_when_not_quiet(monkeypatch, capsys):
    monkeypatch.setenv("COURSE_LIB_QUIET", "0")
    for _ in progress_bar(range(3), desc="visible"):
        pass
    assert "visible" in capsys.readouterr().err


def test_to_device_handles_nested_batches():
    batch = {"ids": torch.ones(2), "pair": (torch.zeros(1), [torch.ones(1), "text"]), "n": 3}
    moved = to_device(batch, "cpu")
    assert moved["pair"][1][1] == "text" and moved["n"] == 3
    assert moved["ids"].device.type == "cpu"


def test_history_round_trips_through_a_dict():
    history = History(
        steps=[1, 2], losses=[0.5, 0.4], evaluations=[{"step": 2, "acc": 1.0}], seconds=1.5
    )
    assert History.from_dict(history.to_dict()) == history


def test_evaluating_switches_to_eval_without_gradients_and_restores_the_mode_even_on_error():
    model = _model(dropout=0.5)
    with evaluating(model):
        assert not model.training and not torch.is_grad_enabled()
    assert model.training and torch.is_grad_enabled()
    model.eval()
    with pytest.raises(RuntimeError), evaluating(model):
        raise RuntimeError("a failing evaluation")
    assert not model.training  # it was in eval mode before: it stays there
    model.train()
    with pytest.raises(RuntimeError), evaluating(model):
        raise RuntimeError("a failing evaluation")
    assert model.training and torch.is_grad_enabled()


def test_warmup_schedule_rises_then_decays():
    parameter = nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([parameter], lr=1.0)
    schedule = warmup_schedule(optimizer, warmup_steps=10)
    rates = []
    for _ in range(40):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    assert rates[0] == pytest.approx(0.1) and max(rates) == pytest.approx(1.0)
    assert rates.index(max(rates)) == 9 and rates[39] == pytest.approx(math.sqrt(10 / 40))


def test_warmup_linear_schedule_rises_then_falls_to_zero():
    parameter = nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([parameter], lr=1.0)
    schedule = warmup_linear_schedule(optimizer, warmup_steps=10, total_steps=50)
    rates = []
    for _ in range(60):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    assert rates[0] == pytest.approx(0.1) and rates[9] == pytest.approx(1.0) == max(rates)
    assert rates[30] == pytest.approx(0.5) and rates[50] == rates[59] == 0.0
    assert all(a >= b for a, b in zip(rates[9:], rates[10:], strict=False))
    with pytest.raises(ValueError, match="warmup_steps < total_steps"):
        warmup_linear_schedule(optimizer, warmup_steps=50, total_steps=50)


def test_a_recipe_is_plain_data_and_unknown_settings_are_refused():
    assert TRANSLATION_RECIPE == {"steps": 1500, "batch_size": 64, "lr": 1e-3, "grad_clip": 1.0}
    changed = adjusted(TRANSLATION_RECIPE, steps=10, warmup_steps=5)
    assert changed["steps"] == 10 and changed["warmup_steps"] == 5 and changed["lr"] == 1e-3
    assert TRANSLATION_RECIPE["steps"] == 1500  # the original is untouched
    with pytest.raises(TypeError, match="unknown recipe settings \\['stpes'\\]"):
        adjusted(TRANSLATION_RECIPE, stpes=10)


def _recipe_run(recipe, schedule_steps=None):
    """(losses, weights) of `train` with `recipe`, and of the same run written out with fit."""
    loader = DataLoader(_problem(), batch_size=32, shuffle=True)
    results = []
    for by_hand in (False, True):
        course_lib.setup(seed=0)
        model = _model()
        if by_hand:
            kind = torch.optim.AdamW if recipe.get("optimizer") == "adamw" else torch.optim.Adam
            options = {"weight_decay": recipe["weight_decay"]} if "weight_decay" in recipe else {}
            optimizer = kind(model.parameters(), lr=recipe["lr"], **options)
            scheduler = warmup_schedule(optimizer, schedule_steps) if schedule_steps else None
            history = fit(
                model,
                loader,
                optimizer=optimizer,
                scheduler=scheduler,
                steps=recipe.get("steps"),
                epochs=recipe.get("epochs"),
                grad_clip=recipe.get("grad_clip"),
                device="cpu",
            )
        else:
            history = train(model, loader, classification_loss, recipe, device="cpu")
        results.append((history.losses, [p.detach().clone() for p in model.parameters()]))
    return results


@pytest.mark.parametrize(
    "recipe, warmup",
    [
        (Recipe(steps=12, lr=1e-2, grad_clip=1.0), None),
        (Recipe(epochs=2, lr=1e-2, optimizer="adamw", weight_decay=0.1, warmup_steps=4), 4),
    ],
)
def test_train_follows_the_recipe_exactly(recipe, warmup):
    (ours, our_weights), (by_hand, their_weights) = _recipe_run(recipe, warmup)
    assert ours == by_hand
    for a, b in zip(our_weights, their_weights, strict=True):
        torch.testing.assert_close(a, b, atol=0, rtol=0)


def test_train_needs_a_learning_rate_and_a_known_optimizer():
    model = _model()
    batches = [(torch.zeros(4, 2), torch.zeros(4, dtype=torch.long))]
    loss = classification_loss
    with pytest.raises(ValueError, match="learning rate"):
        train(model, batches, loss, Recipe(steps=1))
    with pytest.raises(ValueError, match="unknown optimizer 'sgd'"):
        train(model, batches, loss, Recipe(steps=1, lr=0.1, optimizer="sgd"))
    with pytest.raises(ValueError, match="weight_decay goes with optimizer='adamw'"):
        train(model, batches, loss, Recipe(steps=1, lr=0.1, weight_decay=0.01))


def test_training_summary_finds_the_first_evaluation_over_the_threshold():
    history = History(
        steps=list(range(1, 101)),
        losses=[1.0] * 100,
        evaluations=[{"step": s, "accuracy": a} for s, a in ((50, 0.9), (75, 0.96), (100, 0.99))],
        seconds=10.0,
    )
    summary = training_summary(history, "accuracy", threshold=0.95)
    assert summary["steps_to_threshold"] == 75 and summary["seconds_to_threshold"] == 7.5
    assert summary["ms_per_step"] == 100.0
    assert summary["curve"] == [[50, 0.9], [75, 0.96], [100, 0.99]]
    assert training_summary(history, "accuracy", threshold=1.0)["steps_to_threshold"] is None
