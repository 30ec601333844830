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
import importlib
import statistics
import time

import numpy as np

import bench_common

bench_common.ensure_repo_importable()

import minicnn as mc  # noqa: E402  (after the path fix above)
import minicnn.functional as F  # noqa: E402
from minicnn import parallel  # noqa: E402
from minicnn.models import UNet  # noqa: E402

conv_ops = importlib.import_module("minicnn.ops.conv")


def record_gemms(batch, size):
    """{(kind, M, K, columns): count} for one forward + backward of UNet(1, 1, 16, 3).
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

    conv_ops.conv_gemm, conv_ops.conv_weight_grad = (recording_conv_gemm,
                                                     recording_conv_weight_grad)
    try:
        x, target = unet_batch(batch, size)
        F.binary_cross_entropy_with_logits(UNet(1, 1, 16, 3)(x), target).backward()
    finally:
        conv_ops.conv_gemm, conv_ops.conv_weight_grad = conv_gemm, conv_weight_grad
    return gemms


def unet_batch(batch, size):
    x = mc.tensor(bench_common.normal_array((batch, 1, size, size)))
    return x, mc.tensor(bench_common.mask_array((batch, 1, size, size)))


def median_seconds(run, repeats):
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def one_core_rate(kind, M, K, columns, repeats):
    """FLOP/s of this GEMM on one core, on band-sized operands (as minicnn cuts them)."""
    band = max(1, min(columns, parallel.BAND_BYTES // (4 * K)))
    rng = np.random.default_rng(0)
    cols = rng.standard_normal((K, band), dtype=np.float32)                  # (K, band)
    if kind == "conv":
        w = rng.standard_normal((M, K), dtype=np.float32)                    # (M, K)
        out = np.empty((M, band), dtype=np.float32)
        cols_t, w_t = np.ascontiguousarray(cols.T), np.ascontiguousarray(w.T)
        seconds = min(median_seconds(lambda: np.matmul(w, cols, out=out), repeats),
                      median_seconds(lambda: cols_t @ w_t, repeats))
    else:
        g_t = rng.standard_normal((band, M), dtype=np.float32)               # (band, M)
        seconds = median_seconds(lambda: cols @ g_t, repeats)
    return 2 * M * K * band / seconds


def step_seconds(batch, size, repeats):
    """Median time of a whole training step (SGD momentum 0.9), as the benchmarks run it."""
    x, target = unet_batch(batch, size)
    model = UNet(1, 1, 16, 3)
    optimizer = mc.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step():
        optimizer.zero_grad()
        F.binary_cross_entropy_with_logits(model(x), target).backward()
        optimizer.step()
    return median_seconds(step, repeats)


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
            work = 2 * M * K * columns * count
            flops += work
            floor += work / (rate * args.cores)
            print(f"  {kind:6s} M={M:3d} K={K:4d} columns={columns:7d} x{count}: "
                  f"{rate / 1e9:5.1f} GFLOP/s per core -> {work / (rate * args.cores) * 1e3:6.1f} ms")
    print(f"floor: {floor * 1e3:.0f} ms on {args.cores} core(s) for {flops / 1e9:.1f} GFLOP "
          f"(everything but the GEMMs free, every core busy)")
    seconds = None
    if args.step:
        seconds = step_seconds(args.batch, args.size, 5)
        print(f"a real step: {seconds * 1e3:.0f} ms; the floor is {floor / seconds:.0%} of it")
    return floor, seconds


if __name__ == "__main__":
    main()
