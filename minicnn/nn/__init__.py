"""Layers and models as objects that own their parameters: `import minicnn as mc; mc.nn.Conv2d`.

module.py     Module (parameter bookkeeping, state_dict, train/eval, to(device)) and Parameter
init.py       kaiming / xavier / constant initialization
conv.py       Conv2d, ConvTranspose2d
pool.py       MaxPool2d, AvgPool2d, Upsample
activation.py ReLU, Sigmoid
norm.py       BatchNorm2d, Dropout
container.py  Sequential
"""
from minicnn.nn import init  # noqa: F401
from minicnn.nn.activation import ReLU, Sigmoid  # noqa: F401
from minicnn.nn.container import Sequential  # noqa: F401
from minicnn.nn.conv import Conv2d, ConvTranspose2d  # noqa: F401
from minicnn.nn.module import Module, Parameter  # noqa: F401
from minicnn.nn.norm import BatchNorm2d, Dropout  # noqa: F401
from minicnn.nn.pool import AvgPool2d, MaxPool2d, Upsample  # noqa: F401
