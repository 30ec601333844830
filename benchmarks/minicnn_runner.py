"""The benchmark cases in minicnn: `build(case)` returns a function that does one call of the case.

Run alone (`python benchmarks/minicnn_runner.py --full --verbose`) it times the cases and prints
JSON; compare.py runs it in its own process, alternating with torch_runner.py. This file never
imports torch. The pytest benchmarks (test_bench_*.py) use the same `build`.

A case whose op does not exist yet raises `Missing`, so it is skipped with the reason.
"""
import importlib
import inspect

import numpy as np

import bench_common
from bench_common import Missing

bench_common.ensure_repo_importable()

import minicnn as mc  # noqa: E402  (after the path fix above)
import minicnn.functional as F  # noqa: E402


def require(module, name, what):
    if not hasattr(module, name):
        raise Missing(f"{what} is not in minicnn yet")
    return getattr(module, name)


def require_module(name):
    """`minicnn.models`, `minicnn.optim`...: imported, or Missing when not written yet."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name and name.startswith(error.name):   # the module itself, not a dependency
            raise Missing(f"{name} is not in minicnn yet") from None
        raise


def data(shape, device, requires_grad=False, seed=0):
    """A float32 tensor of standard-normal values, the same for every run."""
    array = bench_common.normal_array(shape, seed)
    return mc.tensor(array, requires_grad=requires_grad, device=device)


def binary_mask(shape, device, seed=1):
    array = bench_common.mask_array(shape, seed)
    return mc.tensor(array, device=device)


def layer_call(op, inputs, backward, grad_out=None):
    """One forward (and backward) call of `op(*inputs)`; returns its output tensor.
    `run.inputs` lets the smoke tests look at the gradients."""
    def run():
        for t in inputs:
            t.grad = None                  # gradients accumulate: start each call from zero
        out = op(*inputs)
        if backward:
            out.backward(grad_out)         # grad_out=None for a scalar loss
        return out
    run.inputs = inputs
    return run


def build_layer(case, device):
    n, c, h, w = case.shape
    p = case.params
    needs_grad = case.backward
    if case.op == "conv2d":
        conv2d = require(F, "conv2d", "F.conv2d")
        x = data(case.shape, device, needs_grad and p["input_grad"])
        wt = data((p["out_channels"], c, p["kernel"], p["kernel"]), device, needs_grad, 2)
        b = data((p["out_channels"],), device, needs_grad, 3)
        op, inputs = (lambda x, wt, b: conv2d(x, wt, b, padding=p["padding"])), [x, wt, b]
    elif case.op == "conv_transpose2d":
        conv_t = require(F, "conv_transpose2d", "F.conv_transpose2d")
        x = data(case.shape, device, needs_grad)
        wt = data((c, p["out_channels"], p["kernel"], p["kernel"]), device, needs_grad, 2)
        b = data((p["out_channels"],), device, needs_grad, 3)
        op, inputs = (lambda x, wt, b: conv_t(x, wt, b, stride=p["stride"])), [x, wt, b]
    elif case.op == "max_pool2d":
        pool = require(F, "max_pool2d", "F.max_pool2d")
        op, inputs = (lambda x: pool(x, p["kernel"])), [data(case.shape, device, needs_grad)]
    elif case.op == "upsample":
        upsample = require(F, "upsample", "F.upsample")
        op = lambda x: upsample(x, scale_factor=p["scale"], mode=p["mode"])  # noqa: E731
        inputs = [data(case.shape, device, needs_grad)]
    elif case.op == "relu":
        op, inputs = F.relu, [data(case.shape, device, needs_grad)]
    elif case.op == "bce":
        bce = require(F, "binary_cross_entropy_with_logits", "F.binary_cross_entropy_with_logits")
        target = binary_mask(case.shape, device)
        op, inputs = (lambda x: bce(x, target)), [data(case.shape, device, needs_grad)]
        return layer_call(op, inputs, case.backward)
    else:
        raise ValueError(f"unknown layer op {case.op!r}")
    if not case.backward:
        return layer_call(op, inputs, False)
    with mc.no_grad():                     # the shape of the output, to make its gradient
        out_shape = op(*inputs).shape
    return layer_call(op, inputs, True, data(out_shape, device, seed=4).data)


def make_unet(p, device):
    """minicnn.models.UNet(1, 1, 16, 3) with nearest upsampling (the case's settings)."""
    for name in ("conv2d", "max_pool2d", "upsample", "relu", "concat"):   # what the U-Net uses
        if not hasattr(F, name) and not hasattr(mc, name):
            raise Missing(f"the U-Net needs F.{name}, which is not in minicnn yet")
    models = require_module("minicnn.models")
    unet_class = require(models, "UNet", "minicnn.models.UNet")
    settings = dict(in_channels=p["in_channels"], out_channels=p["out_channels"],
                    base_channels=p["base_channels"], depth=p["depth"])
    accepted = inspect.signature(unet_class).parameters
    for name in ("up", "upsample", "up_mode", "upsample_mode", "mode"):
        if name in accepted:                # the decoder's upsampling: nearest + 1x1 conv
            settings[name] = "nearest"
            break
    mc.manual_seed(0)
    model = unet_class(**settings)
    return model.to(device) if device != "cpu" else model


def build_unet_step(case, device):
    p = case.params
    model = make_unet(p, device)
    optim = require_module("minicnn.optim")
    sgd = require(optim, "SGD", "minicnn.optim.SGD")
    bce = require(F, "binary_cross_entropy_with_logits", "F.binary_cross_entropy_with_logits")
    optimizer = sgd(list(model.parameters()), lr=p["lr"], momentum=p["momentum"])
    x = data(case.shape, device)
    y = binary_mask((case.shape[0], p["out_channels"], *case.shape[2:]), device)

    def step():
        optimizer.zero_grad()
        loss = bce(model(x), y)
        loss.backward()
        optimizer.step()
        return loss
    return step


def build_predict(case, device):
    p = case.params
    predict = require_module("minicnn.predict")
    predict_tiled = getattr(predict, "predict_tiled", None) or getattr(predict, "predict_image",
                                                                      None)
    if predict_tiled is None:
        raise Missing("minicnn.predict has no predict_tiled / predict_image yet")
    model = make_unet(p, device)
    if hasattr(model, "eval"):
        model.eval()
    image = np.random.default_rng(0).random(case.shape, dtype=np.float32)   # (H, W)
    accepted = inspect.signature(predict_tiled).parameters
    settings = {name: value for name, value in
                dict(tile=p["tile"], overlap=p["overlap"], batch_size=p["batch_size"],
                     device=device).items() if name in accepted}
    return lambda: predict_tiled(model, image, **settings)


def build(case, device="cpu"):
    if case.op in ("unet_step", "unet_memory"):
        return build_unet_step(case, device)
    if case.op == "predict_tiled":
        return build_predict(case, device)
    return build_layer(case, device)


def describe():
    info = dict(numpy=np.__version__, minicnn=getattr(mc, "__version__", "?"))
    try:
        from threadpoolctl import threadpool_info
        info["blas"] = [f"{pool.get('internal_api')} {pool.get('version')} "
                        f"({pool.get('num_threads')} threads)" for pool in threadpool_info()]
    except ImportError:                    # without threadpoolctl: how numpy was built
        try:
            blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
            info["blas"] = [f"{blas.get('name')} {blas.get('version')}"]
        except Exception:
            pass
    try:
        model = make_unet(dict(in_channels=1, out_channels=1, base_channels=16, depth=3), "cpu")
        info["unet_parameters"] = sum(int(t.data.size) for t in model.parameters())
    except Exception:                      # no U-Net yet: nothing to count
        pass
    return info


def sync():
    mc.backend.synchronize()               # waits for the GPU; nothing to do on the CPU


def gpu_peak_mb():
    """CuPy's memory pool keeps the blocks it ever needed at once: its size is the peak."""
    import cupy                            # only asked on the GPU, where CuPy is installed
    return cupy.get_default_memory_pool().total_bytes() / 2**20


if __name__ == "__main__":
    bench_common.main("minicnn", build, describe, sync=sync, gpu_peak_mb=gpu_peak_mb)
