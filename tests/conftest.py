"""Shared fixtures. Backend-neutral tests take the `device` fixture: they always run on NumPy
('cpu') and again on CuPy ('cuda') when a GPU is present; without one the cuda case is skipped."""
import os

import numpy as np
import pytest

from minicnn import backend
from tests.cases import make  # noqa: F401  (for test modules that import it from here)

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(params=["cpu", "cuda"])
def device(request):
    if request.param == "cuda" and not backend.cuda_available():
        pytest.skip("no GPU here (CuPy with a CUDA device is needed for the cuda case)")
    return request.param


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
