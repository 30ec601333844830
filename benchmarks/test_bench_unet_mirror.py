"""torch_runner.UNet must be minicnn's U-Net layer for layer, or the ratios compare different
work. With minicnn's weights copied into it (parameters in the same order), it must give the
same output in float64. Each library runs in its own process (none may share the pytest one).
"""
import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent

MINICNN_SIDE = """
import sys, numpy as np
import minicnn_runner as r              # first: it makes minicnn importable from the checkout
import minicnn as mc
model = r.make_unet(dict(in_channels=1, out_channels=1, base_channels=16, depth=3), "cpu")
for p in model.parameters():
    p.data = p.data.astype(np.float64)
x = np.random.default_rng(0).standard_normal((2, 1, 32, 32))
y = model(mc.tensor(x)).numpy()
np.savez(sys.argv[1], x=x, y=y, **{f"p{i}": p.data for i, p in enumerate(model.parameters())})
"""

TORCH_SIDE = """
import sys, numpy as np, torch, torch_runner as t
saved = np.load(sys.argv[1])
model = t.UNet(1, 1, 16, 3).double()
with torch.no_grad():
    for i, p in enumerate(model.parameters()):
        assert saved[f"p{i}"].shape == tuple(p.shape), (i, saved[f"p{i}"].shape, p.shape)
        p.copy_(torch.from_numpy(saved[f"p{i}"]))
    y = model(torch.from_numpy(saved["x"])).numpy()
np.save(sys.argv[2], y)
"""


def run(code, *args):
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=120, cwd=HERE)
    assert done.returncode == 0, done.stderr[-2000:]


def test_torch_unet_mirrors_minicnn(tmp_path, build_case):
    if importlib.util.find_spec("torch") is None:
        pytest.skip("PyTorch is not installed")
    build_case("unet_step_b8_128")                  # skips while minicnn has no U-Net
    saved, torch_out = tmp_path / "minicnn.npz", tmp_path / "torch.npy"
    run(MINICNN_SIDE, str(saved))
    run(TORCH_SIDE, str(saved), str(torch_out))
    expected = np.load(saved)["y"]
    np.testing.assert_allclose(np.load(torch_out), expected, rtol=1e-10, atol=1e-12)
