"""One global random generator, so that `mc.manual_seed(0)` makes a whole run repeatable.

Weight initialization, dropout masks and data sampling all draw from `get_rng()` unless the
caller passes its own `rng=` (a `numpy.random.Generator`). Numbers are drawn on the host with
NumPy and moved to the GPU when needed, so a seed gives the same numbers on either device.
"""
import numpy as np

_generator = np.random.default_rng(0)


def manual_seed(seed):
    """Reset the global generator; returns it."""
    global _generator
    _generator = np.random.default_rng(seed)
    return _generator


def get_rng(rng=None):
    """The generator to use: `rng` if given, else the global one."""
    if rng is None:
        return _generator
    if isinstance(rng, (int, np.integer)):
        return np.random.default_rng(int(rng))
    return rng


def get_state():
    """The global generator's state (a dict of plain values), for checkpoints."""
    return _generator.bit_generator.state


def set_state(state):
    _generator.bit_generator.state = state
