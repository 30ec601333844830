"""Optimizers and learning-rate schedules: `mc.optim.SGD`, `mc.optim.Adam`, `mc.optim.StepLR`.

optimizer.py   the base class (params, per-parameter state, zero_grad, state_dict)
sgd.py         SGD with momentum, dampening, Nesterov, weight decay (PyTorch's rules)
adam.py        Adam with bias correction and weight decay (PyTorch's rules)
schedulers.py  LinearWarmup, StepLR, CosineAnnealingLR
"""
from minicnn.optim.adam import Adam  # noqa: F401
from minicnn.optim.optimizer import Optimizer  # noqa: F401
from minicnn.optim.schedulers import CosineAnnealingLR, LinearWarmup, StepLR  # noqa: F401
from minicnn.optim.sgd import SGD  # noqa: F401
