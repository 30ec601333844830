"""concat, pad (constant and reflect) and center_crop: gradcheck, values against NumPy's
concatenate/pad and plain slicing, the torchvision centring rule, and the error messages."""
import numpy as np
import pytest

import minicnn as mc
import minicnn.functional as F
from tests.conftest import make


# ---- concat ----
@pytest.mark.parametrize("shapes,axis", [
    ([(2, 3, 4, 4), (2, 5, 4, 4)], 1),
    ([(1, 1, 3, 2), (1, 2, 3, 2), (1, 3, 3, 2)], 1),
    ([(2, 3), (1, 3)], 0),
    ([(2, 1, 3), (2, 1, 4)], -1),
    ([(3, 2, 2)], 0),
], ids=str)
def test_concat(shapes, axis, device, rng):
    arrays = [rng.standard_normal(s) for s in shapes]
    xs = [make(a, device) for a in arrays]
    out = mc.concat(xs, axis=axis)
    np.testing.assert_array_equal(out.numpy(), np.concatenate(arrays, axis=axis))
    assert mc.gradcheck(lambda *ts: F.concat(list(ts), axis=axis), *xs)


def test_concat_gradient_is_split_by_sizes(rng):
    a, b = make(rng.standard_normal((1, 2, 3))), make(rng.standard_normal((1, 4, 3)))
    g = rng.standard_normal((1, 6, 3))
    mc.concat([a, b]).backward(g)
    np.testing.assert_array_equal(a.grad, g[:, :2])
    np.testing.assert_array_equal(b.grad, g[:, 2:])


def test_concat_with_a_constant_input(rng):
    a = make(rng.standard_normal((1, 2, 3)))
    out = mc.concat([a, np.ones((1, 1, 3))], axis=1)
    out.sum().backward()
    np.testing.assert_array_equal(a.grad, np.ones((1, 2, 3)))


def test_concat_errors_list_all_shapes():
    a, b, c = mc.zeros(2, 3, 8, 8), mc.zeros(2, 4, 8, 8), mc.zeros(2, 4, 7, 8)
    with pytest.raises(ValueError, match=r"\(2, 3, 8, 8\), \(2, 4, 8, 8\), \(2, 4, 7, 8\).*axis 2"):
        mc.concat([a, b, c], axis=1)
    with pytest.raises(ValueError, match=r"same number of axes.*\(2, 3, 8, 8\), \(3, 8\)"):
        mc.concat([a, mc.zeros(3, 8)])
    with pytest.raises(ValueError, match=r"axis 4 is out of range for 4-D"):
        mc.concat([a, b], axis=4)
    with pytest.raises(TypeError, match="non-empty list"):
        mc.concat([])


# ---- pad ----
PADS = [((1, 2, 0, 3), "constant"), ((0, 0, 2, 1), "constant"), ((2, 1, 3, 2), "reflect"),
        ((4, 0, 0, 3), "reflect"), ((1, 1, 1, 1), "reflect"), ((2, 3), "constant"),
        ((1, 3), "reflect")]


def numpy_pad(x, pads, mode, value):
    left, right, top, bottom = (tuple(pads) + (0, 0))[:4]
    width = [(0, 0)] * (x.ndim - 2) + [(top, bottom), (left, right)]
    if mode == "constant":
        return np.pad(x, width, mode="constant", constant_values=value)
    return np.pad(x, width, mode="reflect")       # NumPy's "reflect" = PyTorch's: edge not repeated


@pytest.mark.parametrize("pads,mode", PADS, ids=str)
@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (1, 1, 5, 7), (5, 6)], ids=str)
def test_pad(pads, mode, shape, device, rng):
    x_np = rng.standard_normal(shape)
    x = make(x_np, device)
    out = F.pad(x, pads, mode, value=0.7)
    np.testing.assert_array_equal(out.numpy(), numpy_pad(x_np, pads, mode, 0.7))
    assert mc.gradcheck(lambda t: F.pad(t, pads, mode, value=0.7), x)


def test_reflect_gradient_adds_mirrored_cells():
    """x = a b c, pads (2, 1) -> c b | a b c | b: with g = 1 everywhere, dx = (1, 3, 2)
    (a once; b itself, as left mirror and as right mirror; c itself and as left mirror)."""
    x = make(np.array([[1.0, 2.0, 3.0]]))
    out = F.pad(x, (2, 1), "reflect")
    np.testing.assert_array_equal(out.numpy(), [[3.0, 2.0, 1.0, 2.0, 3.0, 2.0]])
    out.sum().backward()
    np.testing.assert_array_equal(x.grad, [[1.0, 3.0, 2.0]])


@pytest.mark.parametrize("pads", [(-1, 2, 1, -2), (0, -2, -1, 0)], ids=str)
def test_negative_constant_pad_crops(pads, device, rng):
    x_np = rng.standard_normal((1, 2, 5, 6))
    x = make(x_np, device)
    left, right, top, bottom = pads
    cropped = x_np[:, :, max(0, -top):5 - max(0, -bottom), max(0, -left):6 - max(0, -right)]
    out = F.pad(x, pads)
    np.testing.assert_array_equal(out.numpy(), numpy_pad(cropped, [max(0, p) for p in pads],
                                                         "constant", 0.0))
    assert mc.gradcheck(lambda t: F.pad(t, pads), x)


@pytest.mark.parametrize("pads,mode,pattern", [
    ((4, 0, 0, 0), "reflect", r"0 <= pad < size.*left=4 for size 4"),
    ((0, 0, 0, 3), "reflect", r"bottom=3 for size 3"),
    ((0, 0, -1, 0), "reflect", r"top=-1"),
    ((1, 1, 1), "constant", r"2 or 4 ints"),
    ((0, 0, -2, -1), "constant", r"3 \+ -2 \+ -1"),
    ((1, 1), "wrap", r"'constant' or 'reflect'.*wrap"),
], ids=str)
def test_pad_errors(pads, mode, pattern):
    with pytest.raises(ValueError, match=pattern):
        F.pad(mc.zeros(1, 1, 3, 4), pads, mode)


# ---- center_crop ----
def torchvision_top_left(H, W, h, w):
    """torchvision.transforms.functional.center_crop: int(round((H - h) / 2.0)), likewise left."""
    return int(round((H - h) / 2.0)), int(round((W - w) / 2.0))


@pytest.mark.parametrize("in_hw,crop", [((8, 8), (4, 4)), ((7, 9), (4, 4)), ((9, 8), (4, 5)),
                                        ((6, 5), (6, 5)), ((11, 10), (6, 3)), ((5, 7), 3)], ids=str)
def test_center_crop(in_hw, crop, device, rng):
    x_np = rng.standard_normal((2, 3) + in_hw)
    x = make(x_np, device)
    h, w = (crop, crop) if isinstance(crop, int) else crop
    top, left = torchvision_top_left(*in_hw, h, w)
    out = F.center_crop(x, crop)
    np.testing.assert_array_equal(out.numpy(), x_np[:, :, top:top + h, left:left + w])
    assert mc.gradcheck(lambda t: F.center_crop(t, crop), x)


def test_center_crop_odd_difference_follows_python_round():
    """Python's round sends halves to even: H - h = 1 -> top 0, 3 -> 2, 5 -> 2."""
    rows = np.arange(10.0)[None, None, :, None] * np.ones((1, 1, 10, 1))
    for h, expected_top in [(9, 0), (7, 2), (5, 2), (8, 1)]:
        out = F.center_crop(mc.tensor(rows), (h, 1)).numpy()
        assert out[0, 0, 0, 0] == expected_top


def test_center_crop_gradient_is_zero_outside():
    x = make(np.ones((1, 1, 5, 6)))
    F.center_crop(x, (3, 2)).sum().backward()
    expected = np.zeros((1, 1, 5, 6))
    expected[:, :, 1:4, 2:4] = 1
    np.testing.assert_array_equal(x.grad, expected)


@pytest.mark.parametrize("crop,pattern", [((6, 3), r"\(6, 3\).*\(H, W\) = \(5, 6\)"),
                                          ((2, 7), r"1 <= w <= 6"), ((0, 2), r"1 <= h <= 5")])
def test_center_crop_errors(crop, pattern):
    with pytest.raises(ValueError, match=pattern):
        F.center_crop(mc.zeros(1, 1, 5, 6), crop)
