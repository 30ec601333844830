"""How fast can a U-Net training step built on NumPy's matrix products (OpenBLAS) get on this
machine? This script answers with a floor: the time of the step's matrix products (GEMMs) alone.

1. Run one training step of minicnn's benchmark U-Net and record every GEMM its convolutions
   do: (kind, M, K, columns), e.g. the forward pass of a 16 -> 16 3x3 convolution is
   (16, 144) @ (144, N*H*W).
2. Time each distinct GEMM alone on ONE core (BLAS held to one thread), on operands of the
   size minicnn's bands use (parallel.BAND_BYTES), already in memory; keep the faster of the two
   layouts (A @ B and B^T @ A^T) for forward products.
3. Floor = sum over the step's GEMMs of FLOPs / (per-core rate x cores): the step with every
   other cost at zero (im2col copies, ReLU, pooling, Python) and perfect use of every core.

A real step takes longer; the gap is what everything else costs. Compare the floor with the
target before trying to reach a target: no NumPy engine on this BLAS can beat it.

    python benchmarks/gemm_floor.py                      # batch 4 x 256², this machine's cores
    python benchmarks/gemm_floor.py --batch 8 --size 128 --cores 2 --step

Never imports torch.
"""
import argparse
import collections
import dataclasses
import importlib

import numpy as np

import bench_cases
import minicnn_runner  # the benchmark cases in minicnn (it makes minicnn importable)
from bench_common import time_calls
from minicnn import parallel

conv_ops = importlib.import_module("minicnn.fast.conv")  # the banded convolution


def unet_step(batch, size):
    """One training step of the benchmarks' U-Net (the unet_step case: UNet(1, 1, 16, 3), SGD
    momentum 0.9, BCE-with-logits) on a batch x 1 x size x size input."""
    case = bench_cases.get_case("unet_step_b4_256", full=True)
    return minicnn_runner.build_unet_step(dataclasses.replace(case, shape=(batch, 1, size, size)),
                                          "cpu")


def record_gemms(batch, size):
    """{(kind, M, K, columns): count} for one training step of the benchmarks' U-Net.
    kind "conv": y (M, columns) = w (M, K) @ cols (K, columns), also every input gradient done
    as a convolution; "weight": dw^T (K, M) = cols (K, columns) @ g^T (columns, M)."""
    gemms = collections.Counter()
    conv_gemm, conv_weight_grad = conv_ops.conv_gemm, conv_ops.conv_weight_grad

    def recording_conv_gemm(x, w_rows, b, kernel, stride, padding, dilation, out_size):
        gemms[("conv", *w_rows.shape, x.shape[0] * out_size[0] * out_size[1])] += 1
        return conv_gemm(x, w_rows, b, kernel, stride, padding, dilation, out_size)

    def recording_conv_weight_grad(x, g, kernel, *settings, **options):
        K = x.shape[1] * kernel[0] * kernel[1]
        gemms[("weight", g.shape[1], K, g.shape[0] * g.shape[2] * g.shape[3])] += 1
        return conv_weight_grad(x, g, kernel, *settings, **options)

    step = unet_step(batch, size)
    conv_ops.conv_gemm, conv_ops.conv_weight_grad = (recording_conv_gemm,
                                                     recording_conv_weight_grad)
    try:
        step()
    finally:
        conv_ops.conv_gemm, conv_ops.conv_weight_grad = conv_gemm, conv_weight_grad
    return gemms


def median_seconds(run, repeats):
    """The median of `repeats` timed calls, after one untimed call."""
    return time_calls(run, min_time=0, min_iters=repeats, max_iters=repeats)["median"]


def one_core_rate(kind, M, K, columns, repeats):
    """FLOP/s of this GEMM on one core, on band-sized operands (as minicnn cuts them)."""
    band = max(1, min(columns, parallel.BAND_BYTES // (4 * K)))
    rng = np.random.default_rng(0)
    cols = rng.standard_normal((K, band), dtype=np.float32)                  # (K, band)
    if kind == "conv":
        w = rng.standard_normal((M, K), dtype=np.float32)                    # (M, K)
        out = np.empty((M, band), dtype=np.float32)
        cols_t, w_t = np.ascontiguousarray(cols.T), np.ascontiguousarray(w.T)
        out_t = np.empty((band, M), dtype=np.float32)
        seconds = min(median_seconds(lambda: np.matmul(w, cols, out=out), repeats),
                      median_seconds(lambda: np.matmul(cols_t, w_t, out=out_t), repeats))
    else:
        g_t = rng.standard_normal((band, M), dtype=np.float32)               # (band, M)
        seconds = median_seconds(lambda: cols @ g_t, repeats)
    return 2 * M * K * band / seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--cores", type=int, default=parallel.get_num_threads())
    parser.add_argument("--repeats", type=int, default=15, help="timed calls per GEMM")
    parser.add_argument("--step", action="store_true", help="also time a whole step")
    args = parser.parse_args(argv)

    from threadpoolctl import threadpool_limits
    gemms = record_gemms(args.batch, args.size)
    floor = flops = 0.0
    print(f"U-Net step, batch {args.batch} x {args.size}²: its GEMMs, each timed on one core")
    with threadpool_limits(limits=1, user_api="blas"):
        for (kind, M, K, columns), count in sorted(gemms.items()):
            rate = one_core_rate(kind, M, K, columns, args.repeats)
            work = 2 * M * K * columns * count                     # FLOPs
            seconds = work / (rate * args.cores)
            flops, floor = flops + work, floor + seconds
            print(f"  {kind:6s} M={M:3d} K={K:4d} columns={columns:7d} x{count}: "
                  f"{rate / 1e9:5.1f} GFLOP/s per core -> {seconds * 1e3:6.1f} ms")
    print(f"floor: {floor * 1e3:.0f} ms on {args.cores} core(s) for {flops / 1e9:.1f} GFLOP "
          f"(everything but the GEMMs free, every core busy)")
    seconds = None
    if args.step:
        seconds = median_seconds(unet_step(args.batch, args.size), 5)
        print(f"a real step: {seconds * 1e3:.0f} ms; the floor is {floor / seconds:.0%} of it")
    return floor, seconds


if __name__ == "__main__":
    main()
