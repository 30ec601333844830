"""Adam, exactly PyTorch's torch.optim.Adam (amsgrad off).

For each parameter p with gradient g, step t = 1, 2, ... does:

# BEGIN SOLUTION adam_step
    g = g + weight_decay * p                      (L2 penalty added to the gradient)
    m = beta1 * m + (1 - beta1) * g               (running mean of gradients)
    v = beta2 * v + (1 - beta2) * g^2             (running mean of squared gradients)
    m_hat = m / (1 - beta1^t),  v_hat = v / (1 - beta2^t)   (bias correction: m, v start at 0)
    p = p - lr * m_hat / (sqrt(v_hat) + eps)

written, as PyTorch does, as p -= (lr / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps).
# END SOLUTION
Each weight gets its own step size: about lr where gradients are consistent, less where noisy.
"""
import math

from minicnn.backend import get_array_module
from minicnn.optim.optimizer import Optimizer


class Adam(Optimizer):
    hyperparameters = ("lr", "beta1", "beta2", "eps", "weight_decay")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr)
        beta1, beta2 = betas
        if not (0 <= beta1 < 1 and 0 <= beta2 < 1):
            raise ValueError(f"Adam betas must be in [0, 1), got betas={betas}")
        if eps < 0 or weight_decay < 0:
            raise ValueError(f"eps and weight_decay must be >= 0, got eps={eps}, "
                             f"weight_decay={weight_decay}")
        self.beta1, self.beta2 = float(beta1), float(beta2)
        self.eps, self.weight_decay = float(eps), float(weight_decay)

    @property
    def betas(self):
        return self.beta1, self.beta2

    def update(self, param, grad, state):
        # BEGIN SOLUTION adam_step
        xp = get_array_module(param)
        if not state:
            state["step"] = 0
            state["exp_avg"] = xp.zeros_like(param)            # m, shaped like param
            state["exp_avg_sq"] = xp.zeros_like(param)         # v, shaped like param
        state["step"] += 1
        t, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]
        if self.weight_decay != 0:
            grad = grad + self.weight_decay * param
        m *= self.beta1
        m += (1 - self.beta1) * grad
        v *= self.beta2
        v += (1 - self.beta2) * grad * grad
        step_size = self.lr / (1 - self.beta1 ** t)
        denom = xp.sqrt(v) / math.sqrt(1 - self.beta2 ** t) + self.eps
        param -= step_size * m / denom
        # END SOLUTION
