"""Activation layers: the non-linearity between convolutions, as modules (no parameters)."""
from minicnn import functional as F
from minicnn.nn.module import Module


class ReLU(Module):
    """max(x, 0), elementwise."""

    def forward(self, x):
        return F.relu(x)


class Sigmoid(Module):
    """1 / (1 + e^-x), elementwise: turns a logit into a probability."""

    def forward(self, x):
        return F.sigmoid(x)
