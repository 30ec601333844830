"""Whole-network benchmarks (issue 7): a U-Net training step, the peak memory of a short
training run, and tiled prediction throughput.

U-Net = minicnn.models.UNet(1, 1, 16, 3) (16-32-64 channels, nearest upsampling, concat skips),
SGD with momentum 0.9, lr 0.01, BCE-with-logits. In CI each body runs once on tiny inputs.
"""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest


HERE = Path(__file__).resolve().parent


@pytest.mark.parametrize("key", ["unet_step_b4_256", "unet_step_b8_128"])
def test_unet_train_step(benchmark, build_case, key):
    case, step = build_case(key)
    losses = [step().item()]                                    # untimed first step
    losses.append(benchmark.pedantic(step, rounds=3, warmup_rounds=0).item())
    assert np.isfinite(losses).all()
    assert losses[1] != losses[0], "the optimizer step changed nothing"


def test_unet_peak_memory(full, build_case):
    """In a fresh process (peak memory is per process): it must train (finite losses) and
    report a peak that includes what it held before training."""
    key = "unet_memory_b4_256"
    case, _ = build_case(key)                                   # skips if the U-Net is missing
    command = [sys.executable, str(HERE / "minicnn_runner.py"), "--cases", key]
    done = subprocess.run(command + (["--full"] if full else []), capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)["results"][key]
    assert "error" not in result, result
    print(f"\n{key}: peak {result['peak_mb']:.0f} MB, before training {result['base_mb']:.0f} MB")
    assert result["peak_mb"] >= result["base_mb"] > 0
    assert len(result["losses"]) == case.params["steps"] and np.isfinite(result["losses"]).all()


def test_predict_tiled_throughput(benchmark, build_case):
    case, predict = build_case("predict_tiled_2048")
    probs = benchmark.pedantic(predict, rounds=1, warmup_rounds=0)
    assert probs.shape[-2:] == case.shape
    assert np.all((probs >= 0) & (probs <= 1))
    if benchmark.enabled:
        seconds = benchmark.stats.stats.median
        print(f"\ntiled prediction: {case.shape[0] * case.shape[1] / seconds / 1e6:.2f} MP/s")
