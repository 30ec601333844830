"""Stochastic gradient descent with momentum, exactly PyTorch's torch.optim.SGD.

For each parameter p with gradient g, one step does:

    # BEGIN SOLUTION sgd_step
    g = g + weight_decay * p                          (L2 penalty, if weight_decay != 0)
    if momentum != 0:
        b = g                                          (first step: the buffer is g itself)
        b = momentum * b + (1 - dampening) * g         (later steps)
        g = g + momentum * b   if nesterov  else  b
    p = p - lr * g
    # END SOLUTION

Momentum keeps a running sum of past gradients, so steps grow along directions where the
gradient keeps pointing and cancel where it keeps flipping; Nesterov looks one step ahead.
"""
from minicnn.optim.optimizer import Optimizer


class SGD(Optimizer):
    hyperparameters = ("lr", "momentum", "dampening", "weight_decay")

    def __init__(self, params, lr, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False):
        super().__init__(params, lr)
        if momentum < 0 or weight_decay < 0:
            raise ValueError(f"momentum and weight_decay must be >= 0, got momentum={momentum}, "
                             f"weight_decay={weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError(f"Nesterov momentum needs momentum > 0 and dampening = 0, got "
                             f"momentum={momentum}, dampening={dampening}")
        self.momentum, self.dampening = float(momentum), float(dampening)
        self.weight_decay, self.nesterov = float(weight_decay), bool(nesterov)

    def update(self, param, grad, state):
        # BEGIN SOLUTION sgd_step
        if self.weight_decay != 0:
            grad = grad + self.weight_decay * param
        if self.momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = grad.copy()    # first step: no dampening
            else:
                buf *= self.momentum
                buf += (1 - self.dampening) * grad
            grad = grad + self.momentum * buf if self.nesterov else buf
        param -= self.lr * grad                                 # in place: same array object
        # END SOLUTION
