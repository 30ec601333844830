"""SGD and Adam steps against hand-computed values, optimizer checkpoints, and LR schedules."""
import math

import numpy as np
import pytest

import minicnn as mc
from minicnn import optim
from minicnn.nn import Parameter


def param(values, device="cpu"):
    return Parameter(mc.tensor(np.array(values, dtype=np.float64), device=device))


def set_grad(p, values):
    p.grad = mc.tensor(np.array(values, dtype=np.float64), device=p.device).data


def test_plain_sgd_step(device):
    p = param([1.0, -2.0], device)
    opt = optim.SGD([p], lr=0.1)
    set_grad(p, [0.5, 0.25])
    opt.step()
    # p - lr * g = [1 - 0.1*0.5, -2 - 0.1*0.25]
    np.testing.assert_allclose(p.numpy(), [0.95, -2.025], rtol=1e-15)
    assert p.device == device


def test_sgd_momentum_dampening_two_steps():
    p = param([1.0, -2.0])
    opt = optim.SGD([p], lr=0.1, momentum=0.9, dampening=0.5)
    set_grad(p, [0.5, 0.25])
    opt.step()                      # first step: buffer = g (no dampening) -> p - 0.1 * g
    np.testing.assert_allclose(p.numpy(), [0.95, -2.025], rtol=1e-15)
    set_grad(p, [1.0, -1.0])
    opt.step()                      # buffer = 0.9 * [0.5, 0.25] + 0.5 * [1, -1] = [0.95, -0.275]
    np.testing.assert_allclose(p.numpy(), [0.95 - 0.1 * 0.95, -2.025 + 0.1 * 0.275], rtol=1e-14)


def test_sgd_nesterov_two_steps():
    p = param([1.0])
    opt = optim.SGD([p], lr=0.1, momentum=0.9, nesterov=True)
    set_grad(p, [2.0])
    opt.step()                      # buf = 2; step direction g + 0.9 buf = 3.8
    np.testing.assert_allclose(p.numpy(), [1.0 - 0.1 * 3.8], rtol=1e-15)
    set_grad(p, [1.0])
    opt.step()                      # buf = 0.9*2 + 1 = 2.8; direction 1 + 0.9*2.8 = 3.52
    np.testing.assert_allclose(p.numpy(), [0.62 - 0.1 * 3.52], rtol=1e-14)


def test_sgd_weight_decay():
    p = param([1.0, -2.0])
    opt = optim.SGD([p], lr=0.1, weight_decay=0.01)
    set_grad(p, [0.5, 0.25])
    opt.step()                      # g + 0.01 p = [0.51, 0.23]
    np.testing.assert_allclose(p.numpy(), [1 - 0.051, -2 - 0.023], rtol=1e-15)


def test_adam_two_steps_with_bias_correction(device):
    p = param([1.0, -2.0], device)
    opt = optim.Adam([p], lr=0.01)
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    g1, g2 = np.array([0.5, -0.1]), np.array([-0.2, 0.3])
    set_grad(p, g1)
    opt.step()
    # step 1: m = 0.1 g1, v = 0.001 g1^2, m_hat = g1, v_hat = g1^2 -> p -= lr g1 / (|g1| + eps)
    m = (1 - b1) * g1
    v = (1 - b2) * g1 ** 2
    p1 = np.array([1.0, -2.0]) - (lr / (1 - b1)) * m / (np.sqrt(v) / math.sqrt(1 - b2) + eps)
    np.testing.assert_allclose(p.numpy(), p1, rtol=1e-14)
    np.testing.assert_allclose(p.numpy(), [1 - 0.01, -2 + 0.01], rtol=1e-7)   # ~ lr * sign(g)
    set_grad(p, g2)
    opt.step()
    m = b1 * m + (1 - b1) * g2
    v = b2 * v + (1 - b2) * g2 ** 2
    p2 = p1 - (lr / (1 - b1 ** 2)) * m / (np.sqrt(v) / math.sqrt(1 - b2 ** 2) + eps)
    np.testing.assert_allclose(p.numpy(), p2, rtol=1e-14)
    assert opt.state[0]["step"] == 2


def test_adam_weight_decay_adds_to_gradient():
    p = param([2.0])
    opt = optim.Adam([p], lr=0.1, betas=(0.5, 0.5), eps=0.0, weight_decay=0.25)
    set_grad(p, [-1.0])
    opt.step()          # g = -1 + 0.25*2 = -0.5; m_hat = -0.5, v_hat = 0.25: p -= 0.1 * (-1)
    np.testing.assert_allclose(p.numpy(), [2.1], rtol=1e-15)


def test_parameters_without_grad_are_skipped_and_zero_grad_clears():
    a, b = param([1.0]), param([2.0])
    opt = optim.SGD([a, b], lr=1.0, momentum=0.5)
    set_grad(a, [1.0])
    opt.step()
    assert a.numpy()[0] == 0.0 and b.numpy()[0] == 2.0 and opt.state[1] == {}
    opt.zero_grad()
    assert a.grad is None and b.grad is None


def test_step_updates_in_place_and_builds_no_graph():
    p = param([1.0, 2.0])
    array = p.data
    (p * p).sum().backward()
    optim.Adam([p]).step()
    assert p.data is array and p.creator is None and p.requires_grad


@pytest.mark.parametrize("make_opt", [
    lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
    lambda ps: optim.Adam(ps, lr=0.05, weight_decay=1e-3),
])
def test_state_dict_resume_gives_the_same_trajectory(make_opt):
    def grads(k):
        return [np.sin(np.arange(3) + k), np.cos(np.arange(2) * k)]

    a = [param([1.0, 2.0, 3.0]), param([-1.0, 0.5])]
    opt_a = make_opt(a)
    for k in range(3):
        for p, g in zip(a, grads(k)):
            set_grad(p, g)
        opt_a.step()
    saved = opt_a.state_dict()
    assert all(isinstance(v, (int, float, np.ndarray)) for v in saved.values())
    b = [param(p.numpy()) for p in a]
    opt_b = make_opt(b)
    opt_b.load_state_dict(saved)
    for k in range(3, 6):
        for pa, pb, g in zip(a, b, grads(k)):
            set_grad(pa, g)
            set_grad(pb, g)
        opt_a.step()
        opt_b.step()
    for pa, pb in zip(a, b):
        np.testing.assert_array_equal(pa.numpy(), pb.numpy())


def test_load_state_dict_from_another_model_is_refused():
    opt = optim.Adam([param([1.0])])
    with pytest.raises(ValueError, match="saved for 2 parameters"):
        opt.load_state_dict(optim.Adam([param([1.0]), param([2.0])]).state_dict())


def test_bad_settings_are_explained():
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD([param([1.0])], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="twice"):
        p = param([1.0])
        optim.Adam([p, p])
    with pytest.raises(ValueError, match="betas"):
        optim.Adam([param([1.0])], betas=(1.0, 0.999))


# ---- learning-rate schedules ----
def run_schedule(make_scheduler, steps, lr=0.1):
    opt = optim.SGD([param([1.0])], lr=lr)
    scheduler = make_scheduler(opt)
    lrs = [opt.lr]
    for _ in range(steps):
        scheduler.step()
        lrs.append(opt.lr)
    return lrs


def test_step_lr():
    lrs = run_schedule(lambda o: optim.StepLR(o, step_size=2, gamma=0.5), 5)
    np.testing.assert_allclose(lrs, [0.1, 0.1, 0.05, 0.05, 0.025, 0.025], rtol=1e-15)


def test_cosine_annealing_lr():
    lrs = run_schedule(lambda o: optim.CosineAnnealingLR(o, T_max=4, eta_min=0.02), 4)
    # eta_min + (0.1 - 0.02) * (1 + cos(pi k / 4)) / 2 for k = 0..4
    expected = [0.1, 0.02 + 0.04 * (1 + math.sqrt(0.5)), 0.06, 0.02 + 0.04 * (1 - math.sqrt(0.5)),
                0.02]
    np.testing.assert_allclose(lrs, expected, rtol=1e-12)


def test_warmup_then_schedule():
    lrs = run_schedule(lambda o: optim.LinearWarmup(o, warmup_steps=4), 5)
    np.testing.assert_allclose(lrs, [0.025, 0.05, 0.075, 0.1, 0.1, 0.1], rtol=1e-15)
    lrs = run_schedule(lambda o: optim.StepLR(o, step_size=1, gamma=0.5, warmup_steps=2), 4)
    np.testing.assert_allclose(lrs, [0.05, 0.1, 0.1, 0.05, 0.025], rtol=1e-15)


def test_scheduler_state_dict_resumes():
    opt = optim.SGD([param([1.0])], lr=0.1)
    first = optim.CosineAnnealingLR(opt, T_max=10, warmup_steps=2)
    for _ in range(5):
        first.step()
    opt2 = optim.SGD([param([1.0])], lr=0.1)
    second = optim.CosineAnnealingLR(opt2, T_max=10, warmup_steps=2)
    second.load_state_dict(first.state_dict())
    assert opt2.lr == opt.lr
    assert first.step() == second.step()
