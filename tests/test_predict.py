"""Tiled prediction: equal to whole-image prediction when the image fits one tile, no seams when
it does not, stacks predicted plane by plane."""
import numpy as np
import pytest

import minicnn as mc
from minicnn import functional as F
from minicnn.predict import predict_image, predict_stack, receptive_field


@pytest.fixture(scope="module")
def model():
    mc.manual_seed(0)
    net = mc.models.UNet(1, 1, base_channels=4, depth=3)
    return net.eval()


def _whole(model, image):
    with mc.no_grad():
        return F.sigmoid(model(mc.tensor(image[None, None]))).numpy()[0]


def test_receptive_field_of_default_unet(model):
    # encoder: 3 levels of two 3x3 convs (jumps 1, 2, 4) + 2 pools; decoder: two 3x3 per level
    assert receptive_field(model) == 1 + 4 * (1 + 2 + 4) + (1 + 2) + 4 * (2 + 1)


def test_one_tile_equals_whole_image(model, rng):
    image = rng.standard_normal((64, 96)).astype(np.float32)
    np.testing.assert_allclose(predict_image(model, image, tile=128), _whole(model, image),
                               atol=1e-5)


def test_odd_size_is_padded_and_cropped(model, rng):
    image = rng.standard_normal((37, 53)).astype(np.float32)
    assert predict_image(model, image, tile=64).shape == (1, 37, 53)


def test_tiles_blend_without_seams(model, rng):
    image = rng.standard_normal((160, 200)).astype(np.float32)
    # tiles of 64 with a generous overlap agree with one big tile away from the image border
    tiled = predict_image(model, image, tile=64, overlap=48)[0]
    whole = predict_image(model, image, tile=512)[0]
    inner = (slice(24, -24), slice(24, -24))
    assert np.abs(tiled[inner] - whole[inner]).max() < 2e-3
    # and no step shows up along tile borders: neighbour differences stay like the image's own
    steps = np.abs(np.diff(tiled, axis=1))
    assert steps.max() < np.abs(np.diff(whole, axis=1)).max() + 1e-3


def test_overlap_must_be_smaller_than_tile(model):
    with pytest.raises(ValueError, match="overlap"):
        predict_image(model, np.zeros((300, 300), np.float32), tile=64, overlap=64)


def test_stack_is_predicted_plane_by_plane(model, rng):
    stack = rng.standard_normal((2, 3, 32, 32)).astype(np.float32)   # (T, Z, Y, X)
    probs = predict_stack(model, stack, tile=64)
    assert probs.shape == (2, 3, 1, 32, 32)
    np.testing.assert_allclose(probs[1, 2], predict_image(model, stack[1, 2], tile=64), atol=1e-6)


@pytest.mark.parametrize("length,tile,overlap,multiple", [
    (1072, 48, 44, 4), (1072, 256, 44, 4), (520, 64, 60, 8), (300, 100, 30, 4), (64, 64, 8, 4)])
def test_tile_starts_cover_the_length_on_the_grid_without_repeats(length, tile, overlap,
                                                                   multiple):
    """A repeated start would run the network twice on the same tile and weigh it double (with a
    tile barely larger than the overlap, the starts used to repeat up to 4 times per axis)."""
    from minicnn.predict import _tile_starts
    starts = _tile_starts(length, tile, overlap, multiple)
    assert starts[0] == 0 and starts[-1] == max(length - tile, 0)
    assert all(s % multiple == 0 for s in starts)
    gaps = np.diff(starts)
    assert (gaps > 0).all()                                      # no tile twice
    assert (gaps <= max(tile - overlap, multiple)).all()         # neighbours overlap enough
