"""Weight initialization: where training starts.

Why random: if all weights of a layer started equal, every filter would compute the same thing,
receive the same gradient and stay equal forever (see minicnn.symmetry). Random starting values
break that symmetry. Why this scale: the variance of a layer's output is about
fan_in * Var(w) * Var(input); choosing Var(w) ~ 1/fan_in keeps signals (and gradients) from
growing or shrinking layer after layer.

Fan-in and fan-out of a weight shaped (A, B, KH, KW), computed as PyTorch does:
    fan_in  = B * KH * KW          (Conv2d weight (C_out, C_in, KH, KW): inputs per output)
    fan_out = A * KH * KW
(for ConvTranspose2d, whose weight is (C_in, C_out, KH, KW), this gives fan_in = C_out*KH*KW,
exactly like PyTorch.)

    kaiming_uniform_:  U(-b, b),  b = gain * sqrt(3 / fan)        (He et al. 2015)
    kaiming_normal_:   N(0, s^2), s = gain / sqrt(fan)
    xavier_uniform_:   U(-b, b),  b = gain * sqrt(6 / (fan_in + fan_out))   (Glorot & Bengio)
    xavier_normal_:    N(0, s^2), s = gain * sqrt(2 / (fan_in + fan_out))
    gain(leaky_relu, a) = sqrt(2 / (1 + a^2));  gain(relu) = sqrt(2); linear/sigmoid 1; tanh 5/3

PyTorch's default Conv2d weight is kaiming_uniform_(w, a=sqrt(5)): gain = sqrt(1/3), so
b = sqrt(1/3) * sqrt(3 / fan_in) = 1 / sqrt(fan_in).

All functions change the tensor in place and return it. Numbers come from the global generator
(`mc.manual_seed`) or `rng=`, drawn on the host so a seed gives the same weights on any device.
"""
import math

import numpy as np

from minicnn import backend, rng as rng_module


def calculate_gain(nonlinearity, param=None):
    """The factor that keeps a nonlinearity's output variance right (as torch.nn.init)."""
    if nonlinearity in ("linear", "conv2d", "conv_transpose2d", "sigmoid"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3.0
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1.0 + slope ** 2))
    raise ValueError(f"unknown nonlinearity {nonlinearity!r}; use one of 'linear', 'conv2d', "
                     f"'sigmoid', 'tanh', 'relu', 'leaky_relu'")


def fan_in_and_fan_out(tensor):
    """(fan_in, fan_out) of a weight of shape (A, B, *kernel): (B*k, A*k), k = prod(kernel)."""
    shape = tensor.shape
    if len(shape) < 2:
        raise ValueError(f"fan in and fan out need a weight with at least 2 axes, got shape "
                         f"{shape} (a bias has no fan; initialize it with uniform_ or zeros_)")
    receptive_field = math.prod(shape[2:])
    return shape[1] * receptive_field, shape[0] * receptive_field


def _fill(tensor, values):
    """Write host values into the tensor's array, keeping its dtype and device."""
    tensor.data[...] = backend.to_device(np.asarray(values).astype(tensor.dtype), tensor.device)
    return tensor


def _fan(tensor, mode):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def uniform_(tensor, low=0.0, high=1.0, rng=None):
    return _fill(tensor, rng_module.get_rng(rng).uniform(low, high, tensor.shape))


def normal_(tensor, mean=0.0, std=1.0, rng=None):
    return _fill(tensor, rng_module.get_rng(rng).normal(mean, std, tensor.shape))


def constant_(tensor, value):
    return _fill(tensor, np.full(tensor.shape, value))


def zeros_(tensor):
    return constant_(tensor, 0.0)


def ones_(tensor):
    return constant_(tensor, 1.0)


def kaiming_uniform_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu", rng=None):
    """U(-b, b) with b = gain * sqrt(3 / fan): variance gain^2 / fan (He initialization)."""
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    bound = math.sqrt(3.0) * std              # a uniform on (-b, b) has variance b^2 / 3
    return uniform_(tensor, -bound, bound, rng=rng)


def kaiming_normal_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu", rng=None):
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    return normal_(tensor, 0.0, std, rng=rng)


def xavier_uniform_(tensor, gain=1.0, rng=None):
    fan_in, fan_out = fan_in_and_fan_out(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound, rng=rng)


def xavier_normal_(tensor, gain=1.0, rng=None):
    fan_in, fan_out = fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), rng=rng)
