"""The fast path's switch, in a student copy: every op runs its readable version in minicnn/ops.

In minicnn itself this package also holds fast twins of conv2d, conv_transpose2d, max_pool2d and
upsample (fast/conv.py, fast/pool.py, fast/resize.py): the same numbers, computed in another
order for speed, and on by default. A student copy leaves the twins out. The ops in minicnn/ops
are the exercises, so they are what every notebook, script and test of this copy runs; and the
twins hold the answers in another form.

set_fast and get_fast stay, so that code written for minicnn runs here unchanged: asking for the
fast path warns and changes nothing. The environment variable MINICNN_FAST is not read.
"""
import warnings

NOT_HERE = ("this student copy of minicnn has no fast ops: every op runs its readable version "
            "in minicnn/ops, the code you write")


def set_fast(enabled):
    """True warns that this copy has no fast ops; the readable ops run either way."""
    if not isinstance(enabled, bool):
        raise TypeError(f"set_fast expects True or False, got {enabled!r}")
    if enabled:
        warnings.warn(NOT_HERE, stacklevel=2)


def get_fast():
    """False: a student copy runs the readable ops."""
    return False


def choose(readable):
    """The Function class to run for the readable op class `readable`: itself."""
    return readable
