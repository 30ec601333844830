"""Public test of sgd_step: SGD's updates on hand-checkable numbers, from the update rules in
minicnn/optim/sgd.py's docstring (PyTorch's torch.optim.SGD)."""
import numpy as np

import minicnn as mc


def steps(grads, **settings):
    p = mc.tensor(np.array([1.0, -2.0]), requires_grad=True)
    data = p.data
    optimizer = mc.optim.SGD([p], **settings)
    for g in grads:
        p.grad = np.array(g)
        optimizer.step()
    assert p.data is data, "step() must change the parameter's array in place"
    return p.data


def test_plain_sgd_moves_against_the_gradient():
    assert np.allclose(steps([[0.5, -1.0]], lr=0.1), [0.95, -1.9])


def test_momentum_remembers_the_previous_step():
    # buffer: 1.0, then 0.9 * 1.0 + 1.0 = 1.9 -> total change -0.1 * (1.0 + 1.9)
    assert np.allclose(steps([[1.0, 0.0]] * 2, lr=0.1, momentum=0.9), [0.71, -2.0])


def test_weight_decay_pulls_towards_zero():
    assert np.allclose(steps([[0.0, 0.0]], lr=0.1, weight_decay=0.5), [0.95, -1.9])


def test_nesterov_looks_ahead():
    # first step: buffer = g = 1, update g + 0.9 * buffer = 1.9
    assert np.allclose(steps([[1.0, 0.0]], lr=0.1, momentum=0.9, nesterov=True), [0.81, -2.0])
