"""Activation functions: the non-linearities between layers, and softmax for class scores.

Notation: x is any-shaped input, g = dL/dout the incoming gradient (same shape), backward returns
dx = dL/dx = g * slope with slope = d out / d x, the local derivative; `axis` the class axis.
"""
from minicnn.backend import get_array_module
from minicnn.tensor import Function


class ReLU(Function):
    def forward(self, x):
        self.positive = x > 0                                  # bool, shaped like x
        return x * self.positive

    def backward(self, g):
        # BEGIN SOLUTION relu_backward
        return g * self.positive                               # slope 1 where x > 0, else 0
        # END SOLUTION


def stable_sigmoid(x):
    """sigmoid(x) = 1 / (1 + e^-x) of an array, without overflow for large |x|: with e = e^-|x|,
    it is 1 / (1 + e) for x >= 0 and e / (1 + e) = 1 / (1 + e^-x) for x < 0."""
    xp = get_array_module(x)
    e = xp.exp(-xp.abs(x))                                     # in (0, 1]: never overflows
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))          # shaped like x


class Sigmoid(Function):
    """sigmoid(x) = 1 / (1 + e^-x) (stable_sigmoid)."""

    def forward(self, x):
        self.out = stable_sigmoid(x)                           # shaped like x
        return self.out

    def backward(self, g):
        # BEGIN SOLUTION sigmoid_backward
        return g * self.out * (1 - self.out)                   # s'(x) = s(x) (1 - s(x))
        # END SOLUTION


class Tanh(Function):
    def forward(self, x):
        self.out = get_array_module(x).tanh(x)
        return self.out

    def backward(self, g):
        return g * (1 - self.out * self.out)                   # tanh' = 1 - tanh^2


class Softmax(Function):
    """softmax(x)_i = e^{x_i} / sum_j e^{x_j} along `axis` (shifted by the max: same value,
    no overflow)."""

    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        xp = get_array_module(x)
        e = xp.exp(x - x.max(axis=self.axis, keepdims=True))
        self.out = e / e.sum(axis=self.axis, keepdims=True)
        return self.out

    def backward(self, g):
        # ds_i/dx_j = s_i (delta_ij - s_j)  =>  dL/dx_j = s_j (g_j - sum_i g_i s_i)
        s = self.out
        return s * (g - (g * s).sum(axis=self.axis, keepdims=True))


class LogSoftmax(Function):
    """log softmax(x)_i = x_i - log sum_j e^{x_j}, via the max shift (log-sum-exp trick)."""

    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        xp = get_array_module(x)
        shifted = x - x.max(axis=self.axis, keepdims=True)
        self.out = shifted - xp.log(xp.exp(shifted).sum(axis=self.axis, keepdims=True))
        return self.out

    def backward(self, g):
        # d out_i / dx_j = delta_ij - softmax_j  =>  dL/dx_j = g_j - softmax_j sum_i g_i
        xp = get_array_module(g)
        return g - xp.exp(self.out) * g.sum(axis=self.axis, keepdims=True)


def relu(x): return ReLU()(x)
def sigmoid(x): return Sigmoid()(x)
def tanh(x): return Tanh()(x)
def softmax(x, axis=1): return Softmax(axis)(x)
def log_softmax(x, axis=1): return LogSoftmax(axis)(x)
