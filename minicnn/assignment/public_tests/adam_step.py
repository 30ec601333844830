"""Public test of adam_step: Adam's updates on hand-checkable numbers, from torch.optim.Adam's
definition (amsgrad off)."""
import numpy as np

import minicnn as mc


def steps(grads, **settings):
    p = mc.tensor(np.array([1.0, -2.0]), requires_grad=True)
    data = p.data
    optimizer = mc.optim.Adam([p], **settings)
    for g in grads:
        p.grad = np.array(g)
        optimizer.step()
    assert p.data is data, "step() must change the parameter's array in place"
    return p.data


def test_first_step_moves_each_weight_by_about_lr():
    # after bias correction, the first step is lr * g / (|g| + eps): lr against the sign of g
    assert np.allclose(steps([[0.5, -3.0]], lr=0.1), [0.9, -1.9], atol=1e-6)


def test_a_constant_gradient_keeps_the_step_size():
    assert np.allclose(steps([[2.0, 0.0]] * 3, lr=0.01), [0.97, -2.0], atol=1e-6)


def test_weight_decay_joins_the_gradient():
    # g = 0 + 0.5 * p: both weights move towards 0 by lr
    assert np.allclose(steps([[0.0, 0.0]], lr=0.1, weight_decay=0.5), [0.9, -1.9], atol=1e-6)
