"""Per-layer benchmarks (issue 7): forward, and forward + backward, float32, batch 4.

Timed with `pytest benchmarks --benchmark-enable`; in CI each body runs once on tiny inputs and
checks that the op still gives outputs and gradients of the right shape, all finite.
"""
import numpy as np
import pytest

import bench_cases
from minicnn.backend import to_numpy

LAYER_OPS = ("conv2d", "conv_transpose2d", "max_pool2d", "upsample", "relu", "bce")


@pytest.mark.parametrize("key", bench_cases.keys_of(LAYER_OPS))
def test_layer(benchmark, build_case, key):
    case, run = build_case(key)
    out = benchmark(run)
    assert out.shape == bench_cases.expected_out_shape(case)
    assert np.isfinite(out.numpy()).all()
    for t in run.inputs:
        if t.requires_grad:
            assert case.backward, f"{key}: forward-only case with an input requiring grad"
            assert t.grad is not None and t.grad.shape == t.shape, f"{key}: no gradient"
            assert np.isfinite(to_numpy(t.grad)).all()
