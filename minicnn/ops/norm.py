"""Batch normalization and dropout: the two layers that behave differently in training and eval.

Notation:
  N        batch size
  C        channels (features)
  H, W     spatial size (batch_norm takes (N, C) or (N, C, H, W); any number of spatial axes)
  M        N * H * W, the number of values averaged per channel
  x_hat    the normalized input, mean 0 and variance 1 per channel
  g        dL/dy, the incoming gradient, shaped like x;  dx, dw, db the returned gradients
"""
import numbers

from minicnn import backend, rng as rng_module
from minicnn.backend import get_array_module
from minicnn.tensor import Function, Tensor


class BatchNorm(Function):
    """y = weight * (x - mean) / sqrt(var + eps) + bias, per channel c.

    Training: mean and var are the batch statistics of channel c over its M values (biased
    variance, divided by M); the running statistics move towards them:
        running_mean = (1 - momentum) running_mean + momentum mean
        running_var  = (1 - momentum) running_var  + momentum var * M / (M - 1)   (unbiased)
    (BatchNorm2d(momentum=None) passes momentum = 1 / k for its k-th training batch, which makes
    the running statistics the plain average of the k batch statistics.)
    Eval: mean and var are the running statistics (constants).

    # BEGIN SOLUTION batch_norm_backward
    Backward, with r = 1 / sqrt(var + eps), x_hat = (x - mean) r, g_hat = g * weight:
        dL/dbias   = sum g                   dL/dweight = sum g x_hat   (sums over all but C)
    Eval: mean and r are constants, so dL/dx = g_hat r.
    Training: mean and var depend on every x of the channel too. From
        dmean/dx_j = 1/M,   dvar/dx_j = 2 (x_j - mean) / M,   dr/dvar = -r^3 / 2
    the chain rule over dL/dx_hat_i = g_hat_i gives (llm.c's layernorm derivation):
        dL/dx_j = r g_hat_j - (r/M) sum_i g_hat_i - (r/M) x_hat_j sum_i g_hat_i x_hat_i
                = (r/M) (M g_hat_j - sum g_hat - x_hat_j sum(g_hat x_hat))
    # END SOLUTION
    """

    def __init__(self, running_mean, running_var, use_batch_stats, momentum, eps):
        self.running_mean, self.running_var = running_mean, running_var   # (C,) arrays or None
        self.use_batch_stats, self.momentum, self.eps = use_batch_stats, momentum, eps

    def forward(self, x, weight, bias):
        xp = get_array_module(x)
        C = x.shape[1]
        axes = (0,) + tuple(range(2, x.ndim))                      # every axis but C
        param_shape = (1, C) + (1,) * (x.ndim - 2)                 # (1, C, 1, 1)
        if self.use_batch_stats:
            mean = x.mean(axis=axes, keepdims=True)                # (1, C, 1, 1)
            var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)  # (1, C, 1, 1), biased
            if self.running_mean is not None:
                self._update_running_stats(mean.reshape(C), var.reshape(C), x.size // C)
        else:
            mean = self.running_mean.astype(x.dtype).reshape(param_shape)
            var = self.running_var.astype(x.dtype).reshape(param_shape)
        r = 1 / xp.sqrt(var + self.eps)                            # (1, C, 1, 1)
        self.x_hat = (x - mean) * r                                # (N, C, H, W)
        self.r, self.axes = r, axes
        self.weight = weight.astype(x.dtype, copy=False).reshape(param_shape)
        return self.x_hat * self.weight + bias.astype(x.dtype, copy=False).reshape(param_shape)

    def _update_running_stats(self, mean, var, M):
        """In place, so that the caller's arrays (a module's buffers) see the new values."""
        m = self.momentum
        self.running_mean[...] = (1 - m) * self.running_mean + m * mean
        self.running_var[...] = (1 - m) * self.running_var + m * var * (M / (M - 1))

    def backward(self, g):
        # BEGIN SOLUTION batch_norm_backward
        axes, x_hat, r = self.axes, self.x_hat, self.r
        db = g.sum(axis=axes)                                      # (C,)
        dw = (g * x_hat).sum(axis=axes)                            # (C,)
        g_hat = g * self.weight                                    # dL/dx_hat, (N, C, H, W)
        if not self.use_batch_stats:
            return g_hat * r, dw, db
        M = x_hat.size // x_hat.shape[1]
        dx = (r / M) * (M * g_hat - g_hat.sum(axis=axes, keepdims=True)
                        - x_hat * (g_hat * x_hat).sum(axis=axes, keepdims=True))
        return dx, dw, db
        # END SOLUTION


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """Normalize each channel of x (N, C) or (N, C, H, W) to mean 0, variance 1, then scale by
    weight and shift by bias (both shape (C,), optional: None means 1 and 0). Like PyTorch.

    training=True: uses the batch's own statistics and updates running_mean/running_var IN
    PLACE (arrays or Tensors of shape (C,), or both None to keep no running statistics).
    training=False: uses running_mean/running_var (the batch statistics if they are None).
    momentum: the weight of this batch in the running statistics, a number in [0, 1].
    The output has the shape of x."""
    if not isinstance(x, Tensor):
        raise TypeError(f"batch_norm: x must be a Tensor, got {type(x).__name__}")
    if x.ndim < 2:
        raise ValueError(f"batch_norm: x must be (N, C) or (N, C, H, W), got shape {x.shape}")
    if x.dtype.kind != "f":
        raise TypeError(f"batch_norm: x must be floating point, got {x.dtype}")
    if momentum is None:
        raise ValueError("batch_norm: momentum must be a number in [0, 1], got None; a cumulative "
                         "average is BatchNorm2d(momentum=None), which passes 1 / k for its k-th "
                         "training batch: pass that number to call batch_norm directly")
    if not isinstance(momentum, numbers.Real) or not 0 <= momentum <= 1:
        raise ValueError(f"batch_norm: momentum must be a number in [0, 1], got {momentum!r}")
    if not isinstance(eps, numbers.Real) or eps <= 0:
        raise ValueError(f"batch_norm: eps must be a positive number, got {eps!r}")
    C = x.shape[1]
    xp = get_array_module(x.data)
    running = [_stat_array(s, name, x, C) for s, name in ((running_mean, "running_mean"),
                                                          (running_var, "running_var"))]
    if (running[0] is None) != (running[1] is None):
        raise ValueError("batch_norm: give both running_mean and running_var, or neither")
    use_batch_stats = training or running[0] is None
    if use_batch_stats and x.size // C == 1:
        raise ValueError(f"batch_norm: training needs more than 1 value per channel to compute a "
                         f"variance, got input shape {x.shape}; use a batch of 2 or more, or "
                         f"eval mode")
    weight = _affine(weight, "weight", x, C, xp.ones)
    bias = _affine(bias, "bias", x, C, xp.zeros)
    return BatchNorm(*running, use_batch_stats, momentum, eps)(x, weight, bias)


def _stat_array(stat, name, x, C):
    """A running statistic as the (C,) array to read and update in place (None stays None)."""
    if stat is None:
        return None
    data = stat.data if isinstance(stat, Tensor) else stat
    if not hasattr(data, "shape") or tuple(data.shape) != (C,):
        raise ValueError(f"batch_norm: {name} must be an array of shape ({C},) for input shape "
                         f"{x.shape} ({C} channels), got "
                         f"{tuple(data.shape) if hasattr(data, 'shape') else type(data).__name__}")
    if backend.device_of(data) != x.device:
        raise RuntimeError(f"batch_norm: {name} is on {backend.device_of(data)} but x is on "
                           f"{x.device}; move the module with .to('{x.device}')")
    return data


def _affine(param, name, x, C, default):
    """weight or bias as a Tensor of shape (C,); None becomes ones/zeros that get no gradient."""
    if param is None:
        return Tensor(default(C, dtype=x.dtype))
    if not isinstance(param, Tensor):
        param = Tensor(backend.to_device(param, x.device))
    if param.shape != (C,):
        raise ValueError(f"batch_norm: {name} must have shape ({C},) for input shape {x.shape}, "
                         f"got {param.shape}")
    return param


# ---------------------------------------------------------------------------------------------
class Dropout(Function):
    """Inverted dropout: each element is kept with probability 1 - p and scaled by 1 / (1 - p),
    or set to 0, so the expected value of every output equals its input (and eval mode can
    simply skip the layer). Backward: the same mask, dL/dx = g * keep / (1 - p)."""

    def __init__(self, p, rng):
        self.p, self.rng = p, rng

    def forward(self, x):
        keep = self.rng.random(x.shape, dtype="float32") >= self.p      # host bool, like x
        scale = 0.0 if self.p == 1 else 1 / (1 - self.p)                # p = 1: all zeros
        self.mask = backend.to_device(keep, backend.device_of(x)).astype(x.dtype) * scale
        return x * self.mask                                            # shaped like x

    def backward(self, g):
        return g * self.mask


def dropout(x, p=0.5, training=True, rng=None):
    """Randomly zero a fraction p of the elements of x during training (scaling the rest by
    1/(1-p)); x itself when training=False or p=0. The mask is drawn on the host from
    `rng` (a numpy Generator or seed) or the global generator (mc.manual_seed), so a seed gives
    the same mask on CPU and GPU."""
    if not isinstance(x, Tensor):
        raise TypeError(f"dropout: x must be a Tensor, got {type(x).__name__}")
    if not isinstance(p, numbers.Real) or not 0 <= p <= 1:
        raise ValueError(f"dropout: p is the probability of zeroing an element and must lie in "
                         f"[0, 1], got {p!r}")
    if not training or p == 0:
        return x
    if x.dtype.kind != "f":
        raise TypeError(f"dropout: x must be floating point, got {x.dtype}")
    return Dropout(float(p), rng_module.get_rng(rng))(x)
