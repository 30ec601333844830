"""minicnn.data: TIFF reading/writing, pairing and its error messages, normalization, patches,
augmentation, batching, the validation split, synthetic nuclei and the bundled sample."""
import math

import numpy as np
import pytest
import tifffile
from scipy import ndimage

from minicnn import data, rng as mc_rng
from minicnn.data import DataError


def write(path, array, **kwargs):
    tifffile.imwrite(path, np.asarray(array), **kwargs)
    return path


def make_folders(tmp_path, pairs):
    """images/ and masks/ folders holding name -> (image, mask); None skips that file."""
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    for name, (image, mask) in pairs.items():
        if image is not None:
            write(images / f"{name}.tif", image)
        if mask is not None:
            write(masks / f"{name}.tif", mask)
    return images, masks


def disk_mask(size=32, centre=(16, 16), radius=6, value=1, dtype=np.uint8):
    yy, xx = np.mgrid[:size, :size]
    return (((yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 < radius ** 2) * value).astype(dtype)


# ---------------------------------------------------------------- TIFF in and out

def test_write_then_read_roundtrip_and_imagej(tmp_path):
    image = np.random.default_rng(0).random((3, 16, 20)).astype(np.float32)
    path = data.write_image(tmp_path / "stack.tif", image)
    np.testing.assert_array_equal(data.read_image(path), image)
    with tifffile.TiffFile(path) as tif:
        assert tif.is_imagej and tif.series[0].axes == "ZYX"


def test_write_converts_dtypes_for_imagej(tmp_path):
    data.write_image(tmp_path / "b.tif", np.array([[True, False]]))
    data.write_image(tmp_path / "f.tif", np.ones((2, 2), np.float64))
    data.write_image(tmp_path / "i.tif", np.full((2, 2), 300, np.int64))
    assert data.read_image(tmp_path / "b.tif").dtype == np.uint8
    assert data.read_image(tmp_path / "f.tif").dtype == np.float32
    assert data.read_image(tmp_path / "i.tif").dtype == np.uint16
    with pytest.raises(DataError, match="0..65535"):
        data.write_image(tmp_path / "neg.tif", np.full((2, 2), -1, np.int32))


def test_write_refuses_to_overwrite(tmp_path):
    path = data.write_image(tmp_path / "a.tif", np.zeros((4, 4), np.uint8))
    with pytest.raises(FileExistsError, match="overwrite=True"):
        data.write_image(path, np.ones((4, 4), np.uint8))
    assert data.read_image(path).max() == 0                      # untouched
    data.write_image(path, np.ones((4, 4), np.uint8), overwrite=True)
    assert data.read_image(path).max() == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tif"]  # no temporary file left


@pytest.mark.parametrize("content, words", [
    (None, "does not exist"),
    (b"", "not a TIFF"),
    (b"this is a text file", "not a TIFF"),
    ("truncated", "truncated"),
])
def test_read_image_bad_files(tmp_path, content, words):
    path = tmp_path / "bad.tif"
    if content == "truncated":
        write(path, np.arange(128 * 128, dtype=np.uint16).reshape(128, 128))
        path.write_bytes(path.read_bytes()[:20000])
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(DataError, match=words) as error:
        data.read_image(path)
    assert "bad.tif" in str(error.value)


def test_read_image_nan_pixels_named_and_counted(tmp_path):
    image = np.zeros((8, 8), np.float32)
    image[1, 2] = image[3, 4] = np.nan
    path = write(tmp_path / "nan.tif", image)
    with pytest.raises(DataError, match=r"nan\.tif holds 2 NaN"):
        data.read_image(path)


# ---------------------------------------------------------------- read_pairs

def test_read_pairs_dtypes_shapes_and_foreground(tmp_path):
    labels = disk_mask(value=7, dtype=np.uint16) + disk_mask(centre=(5, 5), radius=3, value=3,
                                                             dtype=np.uint16)
    images, masks = make_folders(tmp_path, {
        "a": (np.full((32, 32), 200, np.uint8), disk_mask(value=255)),
        "b": (np.full((1, 32, 32), 4000, np.uint16), labels),       # leading singleton axis
        "c": (np.full((32, 32), 0.5, np.float64), labels[None]),
    })
    (images / "notes.txt").write_text("ignored")
    pairs = data.read_pairs(images, masks)
    assert [p.name for p in pairs] == ["a", "b", "c"]
    for name, image, mask in pairs:
        assert image.shape == (32, 32) and image.dtype == np.float32
        assert mask.dtype == np.uint8 and set(np.unique(mask)) == {0, 1}
    assert pairs[1].image[0, 0] == 4000
    np.testing.assert_array_equal(pairs[1].mask, labels > 0)


def test_read_pairs_tiff_suffix_and_channel_axis(tmp_path):
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir(), masks.mkdir()
    rgb = np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    write(images / "x.tiff", rgb)
    write(masks / "x.tif", disk_mask())
    pairs = data.read_pairs(images, masks, channel_axis=-1)
    assert pairs[0].image.shape == (3, 32, 32)
    np.testing.assert_array_equal(pairs[0].image[1], rgb[..., 1])
    with pytest.raises(DataError, match="channel_axis"):
        data.read_pairs(images, masks)                            # (32, 32, 3) without it


def test_read_pairs_size_mismatch_names_both_shapes(tmp_path):
    images, masks = make_folders(tmp_path, {"a": (np.zeros((32, 40)), disk_mask())})
    with pytest.raises(DataError, match=r"32x40.*32x32.*same height and width"):
        data.read_pairs(images, masks)


def test_read_pairs_missing_partners_are_listed(tmp_path):
    images, masks = make_folders(tmp_path, {
        "both": (np.zeros((32, 32)), disk_mask()),
        "only_image": (np.zeros((32, 32)), None),
        "only_mask": (None, disk_mask()),
    })
    with pytest.raises(DataError) as error:
        data.read_pairs(images, masks)
    message = str(error.value)
    assert "only_image" in message and "only_mask" in message and "both" not in message


@pytest.mark.parametrize("empty", ["images", "masks"])
def test_read_pairs_empty_folder(tmp_path, empty):
    images, masks = make_folders(tmp_path, {"a": (np.zeros((32, 32)), disk_mask())})
    for path in (images if empty == "images" else masks).iterdir():
        path.unlink()
    with pytest.raises(DataError, match=f"{empty} folder .* holds no .tif"):
        data.read_pairs(images, masks)


def test_read_pairs_missing_folder(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        data.read_pairs(tmp_path / "nope", tmp_path / "nope2")


def test_read_pairs_empty_masks(tmp_path):
    images, masks = make_folders(tmp_path, {
        "a": (np.zeros((32, 32)), np.zeros((32, 32), np.uint8)),
        "b": (np.zeros((32, 32)), np.zeros((32, 32), np.uint8)),
    })
    with pytest.raises(DataError, match="masks .* are empty"), pytest.warns(UserWarning):
        data.read_pairs(images, masks)
    write(masks / "b.tif", disk_mask())                          # one empty mask: only a warning
    with pytest.warns(UserWarning, match="a.tif has no foreground"):
        assert len(data.read_pairs(images, masks)) == 2


def test_read_pairs_unreadable_and_nan(tmp_path):
    images, masks = make_folders(tmp_path, {"a": (np.zeros((32, 32)), disk_mask())})
    (images / "a.tif").write_bytes(b"garbage")
    with pytest.raises(DataError, match=r"a\.tif.*not a TIFF"):
        data.read_pairs(images, masks)
    nan_image = np.zeros((32, 32), np.float32)
    nan_image[0, :3] = np.nan
    write(images / "a.tif", nan_image)
    with pytest.raises(DataError, match="3 NaN"):
        data.read_pairs(images, masks)


def test_read_pairs_classes(tmp_path):
    classes_mask = disk_mask(value=2) + disk_mask(centre=(5, 5), radius=3, value=1)
    images, masks = make_folders(tmp_path, {"a": (np.zeros((32, 32)), classes_mask)})
    pairs = data.read_pairs(images, masks, classes=3)
    np.testing.assert_array_equal(pairs[0].mask, classes_mask)
    with pytest.raises(DataError, match=r"values 0..2.*classes=2.*0..1"):
        data.read_pairs(images, masks, classes=2)
    with pytest.raises(DataError, match="classes must be an integer >= 2"):
        data.read_pairs(images, masks, classes=1)


# ---------------------------------------------------------------- normalization

def test_normalize_percentile_maps_percentiles_to_0_and_1():
    image = np.random.default_rng(0).gamma(2.0, 100.0, (64, 64)).astype(np.uint16)
    out = data.normalize_percentile(image, 1.0, 99.8)
    assert out.dtype == np.float32
    assert np.percentile(out, 1.0) == pytest.approx(0.0, abs=1e-5)
    assert np.percentile(out, 99.8) == pytest.approx(1.0, abs=1e-5)
    assert out.max() > 1.0                                       # no clipping by default
    clipped = data.normalize_percentile(image, clip=True)
    assert clipped.min() >= 0.0 and clipped.max() <= 1.0


def test_normalize_with_settings_matches_and_is_per_channel():
    image = np.random.default_rng(1).random((2, 16, 16)) * np.array([1.0, 1000.0])[:, None, None]
    settings = data.normalization_settings(2.0, 98.0)
    assert settings == {"method": "percentile", "low": 2.0, "high": 98.0, "clip": False}
    out = data.normalize(image, settings)
    np.testing.assert_allclose(out, data.normalize_percentile(image, 2.0, 98.0))
    for channel in out:                                          # each channel has its own range
        assert np.percentile(channel, 98.0) == pytest.approx(1.0, abs=1e-5)
    assert np.all(data.normalize(np.full((4, 4), 7.0)) == 0)     # constant image: no division by 0
    with pytest.raises(DataError, match="unknown normalization method"):
        data.normalize(image, {"method": "minmax"})
    with pytest.raises(DataError, match="low < high"):
        data.normalize_percentile(image, 50, 10)


# ---------------------------------------------------------------- patches, augmentation, loader

def test_patch_sampler_shapes_padding_and_determinism():
    pairs = [("big", np.arange(40 * 50, dtype=np.float32).reshape(40, 50), disk_mask(64)[:40, :50]),
             ("small", np.ones((10, 12), np.float32), np.ones((10, 12), np.uint8))]
    draws = []
    for _ in range(2):
        sampler = data.PatchSampler(pairs, 16, rng=5)
        draws.append([sampler.sample() for _ in range(20)])
    for (i1, m1), (i2, m2) in zip(*draws):
        assert i1.shape == (16, 16) and m1.shape == (16, 16)
        np.testing.assert_array_equal(i1, i2)
        np.testing.assert_array_equal(m1, m2)
    sampler = data.PatchSampler(pairs, 16)
    assert sampler.pairs[1][0].shape == (16, 16)                 # small image reflect-padded
    with pytest.raises(DataError, match="patch_size"):
        data.PatchSampler(pairs, 0)


def test_patch_sampler_uses_global_seed():
    pairs = [(np.random.default_rng(0).random((64, 64)), disk_mask(64))]
    mc_rng.manual_seed(3)
    first = data.PatchSampler(pairs, 8).sample()[0]
    mc_rng.manual_seed(3)
    again = data.PatchSampler(pairs, 8).sample()[0]
    np.testing.assert_array_equal(first, again)


def test_foreground_bias_raises_foreground_fraction():
    mask = np.zeros((200, 200), np.uint8)
    mask[90:110, 90:110] = 1                                     # 1 % foreground
    pairs = [(np.zeros((200, 200), np.float32), mask)]

    def foreground_fraction(bias):
        sampler = data.PatchSampler(pairs, 16, foreground_bias=bias, rng=0)
        return np.mean([sampler.sample()[1].mean() for _ in range(200)])

    assert foreground_fraction(1.0) > 0.4 > 0.1 > foreground_fraction(0.0)


def test_augment_keeps_image_and_mask_aligned():
    generator = np.random.default_rng(0)
    mask = (generator.random((12, 12)) > 0.5).astype(np.uint8)
    image = np.stack([mask * 2.0 + 1.0, mask * 3.0])             # (C, P, P), channels tied to mask
    seen = set()
    for _ in range(40):
        out_image, out_mask = data.augment(image, mask, generator, scale=None, offset=None)
        np.testing.assert_array_equal(out_image[0], out_mask * 2.0 + 1.0)
        np.testing.assert_array_equal(out_image[1], out_mask * 3.0)
        seen.add(out_mask.tobytes())
    assert len(seen) == 8                                        # all flips x rotations occur
    out_image, out_mask = data.augment(image, mask, generator)   # intensity: image only
    assert set(np.unique(out_mask)) <= {0, 1} and out_image.dtype == np.float32
    assert out_mask.shape == (12, 12) and out_image.shape == (2, 12, 12)


def test_batch_loader_shapes_dtypes_and_seed():
    images, labels = data.synthetic_nuclei(2, size=64)
    pairs = list(zip(images, labels))
    x, y = next(data.BatchLoader(pairs, patch_size=32, batch_size=4, rng=1))
    assert x.shape == (4, 1, 32, 32) and x.dtype == np.float32
    assert y.shape == (4, 1, 32, 32) and y.dtype == np.float32 and set(np.unique(y)) <= {0, 1}
    x2, y2 = data.BatchLoader(pairs, 32, 4, rng=1).next_batch()
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    class_pairs = [(image, np.minimum(label, 2)) for image, label in pairs]
    _, y3 = data.BatchLoader(class_pairs, 32, 3, rng=1, classes=3).next_batch()
    assert y3.shape == (3, 32, 32) and y3.dtype == np.int64 and y3.max() <= 2


# ---------------------------------------------------------------- validation split

@pytest.mark.parametrize("n, fraction, n_val", [(2, 0.25, 1), (4, 0.25, 1), (5, 0.25, 2),
                                                (10, 0.5, 5), (3, 0.9, 2)])
def test_split_by_image(n, fraction, n_val):
    pairs = [(f"img{i}", np.zeros((8, 8)), np.ones((8, 8))) for i in range(n)]
    train, val = data.split_train_val(pairs, fraction)
    assert len(val) == n_val == min(max(1, math.ceil(fraction * n)), n - 1)
    assert [p.name for p in train + val] == [f"img{i}" for i in range(n)]  # last ones validate


def test_split_single_image_into_strips():
    image = np.arange(2 * 10 * 40, dtype=np.float32).reshape(2, 10, 40)
    mask = np.ones((10, 40), np.uint8)
    (train,), (val,) = data.split_train_val([("dsb", image, mask)], 0.25)
    assert train.image.shape == (2, 10, 30) and val.image.shape == (2, 10, 10)
    assert val.mask.shape == (10, 10)
    np.testing.assert_array_equal(np.concatenate([train.image, val.image], axis=-1), image)
    with pytest.raises(DataError, match="between 0 and 1"):
        data.split_train_val([("dsb", image, mask)], 1.0)


# ---------------------------------------------------------------- synthetic and sample data

def test_synthetic_nuclei_shapes_labels_and_determinism():
    images, labels = data.synthetic_nuclei(3, size=128, seed=7)
    assert images.shape == labels.shape == (3, 128, 128)
    assert images.dtype == np.float32 and labels.dtype == np.uint16
    again_images, again_labels = data.synthetic_nuclei(2, size=128, seed=7)
    np.testing.assert_array_equal(images[:2], again_images)       # image i depends on (seed, i)
    np.testing.assert_array_equal(labels[:2], again_labels)
    assert not np.array_equal(labels[0], data.synthetic_nuclei(1, size=128, seed=8)[1][0])
    for image, label in zip(images, labels):
        ids = np.unique(label)[1:]
        assert len(ids) >= 3 and np.array_equal(ids, np.arange(1, len(ids) + 1))  # consecutive
        assert image[label > 0].mean() > image[label == 0].mean() + 10        # nuclei are bright
        assert np.isfinite(image).all()


def test_synthetic_nuclei_has_touching_nuclei_with_distinct_labels():
    _, labels = data.synthetic_nuclei(4, size=256, seed=0)
    touching = 0
    for label in labels:
        right, down = (label[:, 1:], label[:, :-1]), (label[1:], label[:-1])
        for a, b in (right, down):
            touching += np.count_nonzero((a > 0) & (b > 0) & (a != b))
        for index, box in enumerate(ndimage.find_objects(label), start=1):  # one piece per id
            assert ndimage.label(label[box] == index)[1] == 1
    assert touching > 0
    merged = sum(ndimage.label(label > 0)[1] for label in labels)
    assert merged < sum(int(label.max()) for label in labels)     # some ids share a blob


def test_sample_nuclei():
    image, labels = data.sample_nuclei()
    assert image.shape == labels.shape == (512, 512)
    assert image.dtype == labels.dtype == np.uint16
    assert 0.15 < (labels > 0).mean() < 0.25
    assert len(np.unique(labels)) - 1 == 125
    assert image[labels > 0].mean() > 2 * image[labels == 0].mean()


# ---------------------------------------------------------------- issue 14: hostile files

def test_lzw_compressed_tiff_is_read(tmp_path):
    """imagecodecs (a dependency) decodes LZW; it used to be reported as corrupted."""
    image = np.arange(32 * 32, dtype=np.uint16).reshape(32, 32)
    write(tmp_path / "lzw.tif", image, compression="lzw")
    np.testing.assert_array_equal(data.read_image(tmp_path / "lzw.tif"), image)


def test_missing_codec_is_named(tmp_path, monkeypatch):
    write(tmp_path / "lzw.tif", np.zeros((8, 8), np.uint16), compression="lzw")

    def no_codec(*args, **kwargs):           # what tifffile says when imagecodecs is absent
        raise ValueError("<COMPRESSION.LZW: 5> requires the 'imagecodecs' package")

    monkeypatch.setattr(tifffile, "TiffFile", no_codec)
    with pytest.raises(DataError, match="pip install imagecodecs"):
        data.read_image(tmp_path / "lzw.tif")


def test_float64_pixels_beyond_float32_are_refused_with_the_range(tmp_path):
    image = np.random.default_rng(0).random((64, 64))
    write(tmp_path / "huge.tif", image * 1e300)
    with pytest.raises(DataError, match="to 1e\\+300, beyond float32.s range"):
        data.read_image(tmp_path / "huge.tif")
    # the Python API normalizes a float64 array in float64 (no inf on the way)
    np.testing.assert_allclose(data.normalize(image * 1e300), data.normalize(image), atol=1e-6)
    outlier = image.copy()
    outlier[0, 0] = 1e300                # 1e300 / (a scale of about 1) overflows float32
    with pytest.raises(DataError, match="overflow float32"):
        data.normalize(outlier)


def test_rgb_image_is_refused_without_channel_axis_and_read_with_it(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    images, masks = make_folders(tmp_path, {"a": (None, disk_mask())})
    write(images / "a.tif", rgb, photometric="rgb")
    with pytest.raises(DataError, match="RGB image: 3 channels on axis -1"):
        data.read_pairs(images, masks)
    assert data.read_pairs(images, masks, channel_axis=-1)[0].image.shape == (3, 32, 32)


@pytest.mark.parametrize("mask,words", [
    (disk_mask(dtype=np.float32) * 0.3, "fractional values"),           # a probability map
    (np.random.default_rng(0).random((32, 32)).astype(np.float32), "fractional values"),
])
def test_masks_that_are_not_labels_are_refused(tmp_path, mask, words):
    images, masks = make_folders(tmp_path, {"a": (np.ones((32, 32), np.float32), mask)})
    with pytest.raises(DataError, match=words):
        data.read_pairs(images, masks)


def test_masks_identical_to_images_or_the_same_folder_are_refused(tmp_path):
    image = disk_mask(value=200)
    images, masks = make_folders(tmp_path, {"a": (image, image)})
    with pytest.raises(DataError, match="identical to its image"):
        data.read_pairs(images, masks)
    with pytest.raises(DataError, match="same folder"):
        data.read_pairs(images, images)


def test_written_files_get_the_users_mode_and_leave_no_temporary(tmp_path):
    old = __import__("os").umask(0o027)
    try:
        data.write_image(tmp_path / "a.tif", np.zeros((4, 4), np.uint8))
    finally:
        __import__("os").umask(old)
    assert (tmp_path / "a.tif").stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tif"]


def test_folder_lock_names_the_live_holder_and_takes_over_a_dead_one(tmp_path):
    import os
    import subprocess
    import sys

    from minicnn.data.files import FolderBusyError, FolderLock, remove_stale_temporaries

    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True)
    (tmp_path / ".minicnn.lock").write_text(ended.stdout.strip())      # a dead process
    (tmp_path / ".tmp-history-x1.csv").write_text("left by a killed run")
    with FolderLock(tmp_path):
        remove_stale_temporaries(tmp_path)
        assert (tmp_path / ".minicnn.lock").read_text() == str(os.getpid())
        assert not (tmp_path / ".tmp-history-x1.csv").exists()
    assert not (tmp_path / ".minicnn.lock").exists()
    (tmp_path / ".minicnn.lock").write_text(str(os.getppid()))          # a live one
    with pytest.raises(FolderBusyError, match=f"process {os.getppid()}"):
        FolderLock(tmp_path).acquire()
