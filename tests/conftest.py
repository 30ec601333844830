"""Shared fixtures. Backend-neutral tests take the `device` fixture: they always run on NumPy
('cpu') and again on CuPy ('cuda') when a GPU is present; without one the cuda case is skipped."""
import os

import numpy as np
import pytest

import minicnn as mc
from minicnn import backend

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(params=["cpu", "cuda"])
def device(request):
    if request.param == "cuda" and not backend.cuda_available():
        pytest.skip("no GPU here (CuPy with a CUDA device is needed for the cuda case)")
    return request.param


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def make(array, device="cpu", requires_grad=True, dtype="float64"):
    """A float64 tensor on `device` from a NumPy array (the usual gradcheck input)."""
    return mc.tensor(np.asarray(array, dtype=dtype), requires_grad=requires_grad, device=device)
