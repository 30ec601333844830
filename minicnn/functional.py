"""The public function namespace, like torch.nn.functional: `import minicnn.functional as F`."""
from minicnn.ops.activation import log_softmax, relu, sigmoid, softmax, tanh  # noqa: F401
from minicnn.ops.basic import (abs, clip, exp, log, matmul, maximum, mean, minimum,  # noqa: F401
                               reshape, sqrt, sum, transpose)
from minicnn.ops.conv import conv2d, conv_transpose2d  # noqa: F401
from minicnn.ops.loss import (binary_cross_entropy_with_logits, cross_entropy,  # noqa: F401
                              dice_loss, mse_loss)
from minicnn.ops.norm import batch_norm, dropout  # noqa: F401
from minicnn.ops.pool import avg_pool2d, max_pool2d  # noqa: F401
from minicnn.ops.resize import upsample  # noqa: F401
from minicnn.ops.shape import center_crop, concat, pad  # noqa: F401
