"""minicnn: a from-scratch, readable deep-learning engine on NumPy (CPU) and CuPy (GPU)."""
__version__ = "0.1.0"

from minicnn import _interrupt  # noqa: F401,I001  (first: Ctrl-C while the command starts)

from minicnn import backend, functional  # noqa: F401
from minicnn.backend import cuda_available  # noqa: F401
from minicnn.gradcheck import GradcheckError, gradcheck  # noqa: F401
from minicnn.ops.basic import (abs, clip, exp, log, matmul, maximum, mean, minimum,  # noqa: F401
                               reshape, sqrt, sum, transpose)
from minicnn.ops.shape import concat  # noqa: F401
from minicnn.parallel import get_num_threads, set_num_threads  # noqa: F401  (CPU threads)
from minicnn.fast import get_fast, set_fast  # noqa: F401  (fast ops on/off; MINICNN_FAST=0)
from minicnn.rng import manual_seed  # noqa: F401
from minicnn.tensor import Function, Tensor, no_grad, ones, randn, tensor, zeros  # noqa: F401
from minicnn.trace import trace  # noqa: F401,E402  (mc.trace(): print every backward step)
from minicnn import viz  # noqa: F401,E402
from minicnn import models, nn, optim  # noqa: F401,E402  (layers, optimizers, U-Net)
from minicnn.io import load, save  # noqa: F401,E402  (one .npz per model, no pickle)
from minicnn import data  # noqa: F401,E402  (TIFF pairs, normalization, patches, sample data)
