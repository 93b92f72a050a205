"""The hand-stepped learning-rate schedules of the GAN module."""

import math
import warnings

import pytest
import torch

from inpaintlab.training import build_scheduler, step_scheduler


def _optimizer(lr=1.0):
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)


def test_cosine_follows_epochs_even_before_its_optimizer_steps_and_stays_quiet():
    """A discriminator waiting out the warm-up never steps; its schedule still advances one epoch per call,
    without PyTorch's 'scheduler before optimizer' warning."""
    optimizer = _optimizer()
    scheduler = build_scheduler("cosine", optimizer, max_epochs=4, mode="max", kwargs={"eta_min": 0.0})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        step_scheduler(scheduler)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))


def test_plateau_steps_only_with_a_metric():
    optimizer = _optimizer()
    scheduler = build_scheduler("plateau", optimizer, max_epochs=4, mode="max", kwargs={"patience": 0, "factor": 0.5})
    step_scheduler(scheduler, 1.0)
    step_scheduler(scheduler)  # no metric: no step
    step_scheduler(scheduler, 0.5)  # worse: the rate halves
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.5)
