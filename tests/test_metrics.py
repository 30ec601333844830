"""minicnn.metrics: pixel scores on hand-made masks, object F1 on known cases, instance
splitting."""
import numpy as np
import pytest
from scipy import ndimage

from minicnn import metrics


def disk(shape, centre, radius):
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    return (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 < radius ** 2


def test_pixel_scores_on_hand_made_masks():
    pred = np.zeros((10, 10), np.uint8)
    true = np.zeros((10, 10), np.uint8)
    pred[0:4, 0:5] = 1        # 20 pixels
    true[2:6, 0:5] = 255      # 20 pixels, 10 shared with pred: union 30
    assert metrics.iou(pred, true) == pytest.approx(10 / 30)
    assert metrics.dice(pred, true) == pytest.approx(2 * 10 / 40)
    assert metrics.pixel_accuracy(pred, true) == pytest.approx((100 - 20) / 100)
    iou = metrics.iou(pred, true)
    assert metrics.dice(pred, true) == pytest.approx(2 * iou / (1 + iou))
    assert metrics.iou(true, true) == metrics.dice(true, true) == 1.0
    assert metrics.iou(pred, 1 - pred) == 0.0


def test_pixel_scores_empty_masks_and_classes():
    empty = np.zeros((4, 4))
    assert metrics.iou(empty, empty) == metrics.dice(empty, empty) == 1.0
    assert metrics.iou(empty, np.ones((4, 4))) == 0.0
    pred = np.array([[0, 1, 2, 2]])
    true = np.array([[0, 2, 2, 1]])
    assert metrics.pixel_accuracy(pred, true, binary=False) == pytest.approx(0.5)
    assert metrics.pixel_accuracy(pred, true) == 1.0       # all foreground where true is


def test_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(4, 4\).*\(4, 5\)"):
        metrics.iou(np.zeros((4, 4)), np.zeros((4, 5)))


def test_object_f1_known_case():
    true = np.zeros((40, 40), np.int32)
    true[2:10, 2:10] = 5          # matched exactly
    true[20:30, 20:30] = 9        # matched with IoU 80/100 + ... see below
    true[2:8, 30:36] = 2          # missed entirely: a false negative
    pred = np.zeros_like(true)
    pred[2:10, 2:10] = 1
    pred[20:30, 22:30] = 3        # 80 of the 100 pixels: IoU 0.8
    pred[32:38, 2:8] = 4          # nothing there: a false positive
    pred[36:40, 30:40] = 7        # another false positive
    result = metrics.object_f1(pred, true)
    assert (result["tp"], result["fp"], result["fn"]) == (2, 2, 1)
    assert result["precision"] == pytest.approx(2 / 4)
    assert result["recall"] == pytest.approx(2 / 3)
    assert result["f1"] == pytest.approx(2 * 2 / (2 * 2 + 2 + 1))
    assert result["mean_iou"] == pytest.approx((1.0 + 0.8) / 2)
    assert metrics.object_f1(pred, true, threshold=0.9)["tp"] == 1


def test_object_f1_low_overlap_and_merged_objects_do_not_match():
    true = np.zeros((20, 20), np.int32)
    true[0:10, 0:10], true[0:10, 10:20] = 1, 2
    merged = (true > 0).astype(np.int32)                  # one object covering both: IoU 0.5 each
    merged[0, 0] = merged[0, 19] = 0                       # IoU 99/199 each: just below 0.5
    result = metrics.object_f1(merged, true)
    assert (result["tp"], result["fp"], result["fn"]) == (0, 1, 2)
    assert result["f1"] == 0.0
    empty = np.zeros((5, 5), np.int32)
    assert metrics.object_f1(empty, empty)["f1"] == 1.0
    assert metrics.object_f1(empty, true[:5, :5])["recall"] == 0.0
    with pytest.raises(ValueError, match="integer label images"):
        metrics.object_f1(np.zeros((5, 5)), empty)


def test_iou_matrix_handles_non_consecutive_ids():
    true = np.array([[0, 1000, 1000, 7]])
    pred = np.array([[3, 3, 3, 0]])
    ious = metrics.iou_matrix(pred, true)                  # rows: pred id 3; cols: true 7, 1000
    np.testing.assert_allclose(ious, [[0.0, 2 / 3]])


def test_split_instances_separates_two_touching_disks():
    shape = (60, 90)
    left, right = disk(shape, (30, 28), 15), disk(shape, (30, 55), 15)   # overlapping by 3 px
    mask = left | right
    assert ndimage.label(mask)[1] == 1                     # one connected blob
    labels, count = metrics.split_instances(mask.astype(np.float32))
    assert count == 2 and labels.max() == 2
    assert np.unique(labels[left & ~right]).size == 1 and np.unique(labels[right & ~left]).size == 1
    assert labels[30, 20] != labels[30, 63]
    np.testing.assert_array_equal(labels > 0, mask)
    # the cut follows the neck: the two halves are (nearly) equal
    sizes = np.bincount(labels.ravel())[1:]
    assert abs(int(sizes[0]) - int(sizes[1])) <= 0.05 * sizes.sum()


def test_split_instances_keeps_separate_objects_and_drops_specks():
    prob = np.zeros((40, 40), np.float32)
    prob[disk((40, 40), (10, 10), 6)] = 0.9
    prob[disk((40, 40), (28, 28), 8)] = 0.7
    prob[0, 39] = 0.95                                     # a single-pixel speck
    prob[35:37, 2:4] = 0.4                                 # below the threshold
    labels, count = metrics.split_instances(prob, min_size=5)
    assert count == 2 and labels[0, 39] == 0 and labels[35, 2] == 0
    assert metrics.split_instances(prob, min_size=1)[1] == 3
    assert metrics.split_instances(np.zeros((8, 8)))[1] == 0
    with pytest.raises(ValueError, match="2-D"):
        metrics.split_instances(np.zeros((2, 8, 8)))


def test_split_instances_recovers_synthetic_nuclei():
    from minicnn.data import synthetic_nuclei
    _, labels = synthetic_nuclei(2, size=128, seed=3)
    for true in labels:
        pred, count = metrics.split_instances(true > 0)
        plain = metrics.object_f1(ndimage.label(true > 0)[0], true)["f1"]
        split = metrics.object_f1(pred, true)["f1"]
        assert split >= 0.9 and split >= plain
