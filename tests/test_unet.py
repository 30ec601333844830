"""The U-Net: shapes for every depth and upsampling mode, size errors, gradients, and that a tiny
one can learn (overfit one batch of disk images)."""
import time

import numpy as np
import pytest

import minicnn as mc
import minicnn.functional as F
from minicnn.models import UNet
from tests.conftest import make


def batch(shape, device="cpu", seed=0):
    return make(np.random.default_rng(seed).standard_normal(shape), device, requires_grad=False,
                dtype="float32")


@pytest.mark.parametrize("depth", [2, 3, 4])
@pytest.mark.parametrize("up", ["nearest", "bilinear", "transpose"])
def test_output_has_input_size_for_every_depth_and_up_mode(depth, up, device):
    model = UNet(in_channels=2, out_channels=3, base_channels=4, depth=depth, up=up).to(device)
    x = batch((2, 2, 16, 24), device)                 # non-square, multiples of 8
    y = model(x)
    assert y.shape == (2, 3, 16, 24) and y.dtype == np.float32 and y.device == device
    deepest = f"encoder.{depth - 1}.conv2.weight"
    assert model.state_dict()[deepest].shape == (4 * 2 ** (depth - 1),) * 2 + (3, 3)


@pytest.mark.parametrize("options", [dict(batch_norm=True), dict(dropout=0.3),
                                     dict(batch_norm=True, dropout=0.5, up="transpose")])
def test_batch_norm_and_dropout_variants(options):
    model = UNet(base_channels=4, depth=3, **options)
    x = batch((2, 1, 8, 8))
    assert model(x).shape == (2, 1, 8, 8)
    model.eval()
    np.testing.assert_array_equal(model(x).numpy(), model(x).numpy())   # eval is deterministic
    names = list(model.state_dict())
    assert ("encoder.0.bn1.running_mean" in names) == bool(options.get("batch_norm"))


def test_default_parameter_count():
    # level convs: 3x3 conv c_in -> c_out has 9 c_in c_out + c_out parameters
    conv = lambda c_in, c_out, k=3: k * k * c_in * c_out + c_out      # noqa: E731
    encoder = conv(1, 16) + conv(16, 16) + conv(16, 32) + conv(32, 32) + conv(32, 64) + \
        conv(64, 64)
    up = conv(64, 32, 1) + conv(32, 16, 1)                            # 1x1 convs halving channels
    decoder = conv(64, 32) + conv(32, 32) + conv(32, 16) + conv(16, 16)
    head = conv(16, 1, 1)
    model = UNet()
    assert model.num_parameters() == encoder + up + decoder + head == 109_073
    assert "Total parameters: 109,073" in repr(model)
    assert model.config == dict(in_channels=1, out_channels=1, base_channels=16, depth=3,
                                up="nearest", batch_norm=False, dropout=0.0)


@pytest.mark.parametrize("depth, shape, multiple, axis, nearest", [
    (3, (1, 1, 30, 32), 4, "height is 30", "28 or 32"),
    (3, (1, 1, 32, 33), 4, "width is 33", "32 or 36"),
    (4, (1, 1, 16, 6), 8, "width is 6", "valid sizes: 8)"),
    (2, (1, 1, 7, 8), 2, "height is 7", "6 or 8"),
])
def test_size_error_names_the_multiple_and_nearest_valid_sizes(depth, shape, multiple, axis,
                                                              nearest):
    model = UNet(base_channels=2, depth=depth)
    with pytest.raises(ValueError) as info:
        model(batch(shape))
    text = str(info.value)
    assert f"multiples of 2**{depth - 1} = {multiple}" in text
    assert f"input {axis}" in text and nearest in text


def test_other_input_errors():
    model = UNet(in_channels=3, base_channels=2, depth=2)
    with pytest.raises(ValueError, match="3 input channel"):
        model(batch((1, 1, 8, 8)))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        model(batch((3, 8, 8)))
    with pytest.raises(ValueError, match="up must be"):
        UNet(up="cubic")
    with pytest.raises(ValueError, match="depth must be a positive int"):
        UNet(depth=0)


def test_depth_one_is_two_convolutions_and_a_head():
    model = UNet(base_channels=4, depth=1)
    assert model(batch((1, 1, 5, 7))).shape == (1, 1, 5, 7)     # any size: nothing is pooled
    assert model.num_parameters() == (9 * 4 + 4) + (9 * 16 + 4) + (4 + 1)


@pytest.mark.parametrize("up", ["nearest", "bilinear", "transpose"])
def test_gradcheck_tiny_unet_wrt_input_and_parameters(up):
    mc.manual_seed(0)
    model = UNet(base_channels=2, depth=2, up=up).double()
    x = make(np.random.default_rng(0).standard_normal((1, 1, 4, 4)))
    params = list(model.parameters())
    assert mc.gradcheck(lambda inp, *ps: model(inp), x, *params)


def disks_on_noise(n=2, size=32, seed=0):
    """n images of bright disks on noise, and masks = the disks (float32, (n, 1, size, size))."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    masks = np.zeros((n, 1, size, size), dtype=np.float32)
    for i in range(n):
        for _ in range(3):
            cy, cx = rng.uniform(6, size - 6, 2)
            r = rng.uniform(3, 6)
            masks[i, 0][(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = 1.0
    images = 0.8 * masks + rng.normal(0.0, 0.2, masks.shape).astype(np.float32)
    return images.astype(np.float32), masks


def test_tiny_unet_overfits_one_batch():
    mc.manual_seed(0)
    images, masks = disks_on_noise()
    x, y = mc.tensor(images), mc.tensor(masks)
    model = UNet(base_channels=8, depth=2)
    optimizer = mc.optim.Adam(model.parameters(), lr=1e-2)
    losses, start = [], time.perf_counter()
    for step in range(100):
        loss = F.binary_cross_entropy_with_logits(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    seconds = time.perf_counter() - start
    curve = ", ".join(f"{k}:{losses[k]:.4f}" for k in range(0, 100, 10))
    print(f"\noverfit curve (step:loss) {curve}, 99:{losses[-1]:.4f}; "
          f"{losses[0] / losses[-1]:.0f}x in 100 steps, {seconds:.1f} s")
    assert losses[-1] * 10 <= losses[0], f"loss fell only {losses[0] / losses[-1]:.1f}x: {curve}"
    with mc.no_grad():
        predicted = model.eval()(x).numpy() > 0
    assert (predicted == (masks > 0.5)).mean() > 0.98
