"""BatchNorm2d and Dropout: the layers that behave differently in training and evaluation.

BatchNorm2d, for input (N, C, H, W): in training it normalizes each channel with the mean and
(biased) variance over N, H, W of the batch, y = weight * (x - mean) / sqrt(var + eps) + bias,
and updates the buffers running_mean / running_var (running = (1 - momentum) * running +
momentum * batch statistic, with the unbiased variance, as PyTorch). In evaluation it uses the
running statistics instead. num_batches_tracked counts the training batches.

momentum=None (as PyTorch) makes the running statistics the plain average of every batch
statistic seen so far: the k-th training batch (k = num_batches_tracked after counting it) uses
the factor 1 / k in the same update, so batch 1 replaces the initial 0 / 1 and
running_k = ((k - 1) running_(k-1) + stat_k) / k = (stat_1 + ... + stat_k) / k.

Dropout(p): in training each element is zeroed with probability p and the survivors are scaled
by 1 / (1 - p) (so the expected value is unchanged); in evaluation it passes x through.
"""
import numbers

import numpy as np

from minicnn import backend
from minicnn import functional as F
from minicnn.nn import init
from minicnn.nn.module import Module, Parameter
from minicnn.tensor import Tensor


class BatchNorm2d(Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        if not isinstance(num_features, (int, np.integer)) or num_features < 1:
            raise ValueError(f"BatchNorm2d: num_features (the number of channels C) must be a "
                             f"positive int, got {num_features!r}")
        if momentum is not None and (isinstance(momentum, bool) or
                                     not isinstance(momentum, numbers.Real) or
                                     not 0 <= momentum <= 1):
            raise ValueError(f"BatchNorm2d: momentum must be a number in [0, 1] (the weight of "
                             f"each new batch in the running statistics, default 0.1) or None "
                             f"(a cumulative average of all batches), got {momentum!r}")
        self.num_features, self.eps, self.momentum = int(num_features), eps, momentum
        self.weight = Parameter(np.ones(num_features, dtype=np.float32))    # gamma, (C,)
        self.bias = Parameter(np.zeros(num_features, dtype=np.float32))     # beta, (C,)
        self.register_buffer("running_mean", Tensor(np.zeros(num_features, np.float32)))
        self.register_buffer("running_var", Tensor(np.ones(num_features, np.float32)))
        self.register_buffer("num_batches_tracked", Tensor(np.array(0, dtype=np.int64)))

    def reset_parameters(self):
        init.ones_(self.weight)
        init.zeros_(self.bias)
        init.zeros_(self.running_mean)
        init.ones_(self.running_var)
        self.num_batches_tracked.data[...] = 0

    def forward(self, x):
        factor = self.momentum
        if self.training:
            self.num_batches_tracked.data += 1
            if factor is None:                     # cumulative average: batch k weighs 1 / k
                factor = 1.0 / int(backend.to_numpy(self.num_batches_tracked.data))
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            training=self.training, momentum=0.0 if factor is None else factor,
                            eps=self.eps)

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


class Dropout(Module):
    def __init__(self, p=0.5, rng=None):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"Dropout probability p must be in [0, 1), got {p}")
        self.p, self.rng = p, rng

    def forward(self, x):
        return F.dropout(x, self.p, training=self.training, rng=self.rng)

    def extra_repr(self):
        return f"p={self.p}"
