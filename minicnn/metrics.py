"""How good is a segmentation? Pixel scores, object scores, and splitting masks into objects.

Pixel level (binary masks; any value > 0 is foreground):
    iou    = |P ∩ T| / |P ∪ T|          intersection over union (Jaccard index)
    dice   = 2 |P ∩ T| / (|P| + |T|)     (F1 score of the pixels; dice = 2 iou / (1 + iou))
    pixel_accuracy = fraction of pixels where prediction and truth agree
Two empty masks agree perfectly: iou = dice = 1.

Object level (instance labels, 0 = background): a predicted object matches a true one when their
IoU is >= threshold (0.5: then each object can match at most one other). Matched pairs are true
positives, unmatched predictions false positives, unmatched true objects false negatives:
    precision = tp / (tp + fp)    recall = tp / (tp + fn)    f1 = 2 tp / (2 tp + fp + fn)

`split_instances` turns a foreground mask (or probability map) into labelled objects, separating
touching nuclei with the classic distance-transform watershed.

Everything runs with NumPy/SciPy on the host; CuPy arrays are copied over first.
"""
import numpy as np
from scipy import ndimage
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra

from minicnn.backend import to_numpy


def _pair(pred, true, what):
    """Host arrays of equal shape, or a ValueError naming both shapes."""
    pred, true = to_numpy(pred), to_numpy(true)
    if pred.shape != true.shape:
        raise ValueError(f"{what}: prediction has shape {pred.shape} but ground truth has shape "
                         f"{true.shape}; compare masks of the same image size")
    return pred, true


def iou(pred_mask, true_mask):
    """Foreground intersection over union of two masks (values > 0 are foreground)."""
    pred, true = _pair(pred_mask, true_mask, "iou")
    pred, true = pred > 0, true > 0
    union = np.logical_or(pred, true).sum()
    return 1.0 if union == 0 else float(np.logical_and(pred, true).sum() / union)


def dice(pred_mask, true_mask):
    """Dice coefficient 2|P∩T| / (|P|+|T|) of two masks (values > 0 are foreground)."""
    pred, true = _pair(pred_mask, true_mask, "dice")
    pred, true = pred > 0, true > 0
    total = pred.sum() + true.sum()
    return 1.0 if total == 0 else float(2 * np.logical_and(pred, true).sum() / total)


def pixel_accuracy(pred_mask, true_mask, binary=True):
    """Fraction of equal pixels; binary=True compares foreground (> 0), False compares values
    (class maps)."""
    pred, true = _pair(pred_mask, true_mask, "pixel_accuracy")
    if binary:
        pred, true = pred > 0, true > 0
    return float(np.mean(pred == true)) if pred.size else 1.0


def iou_matrix(pred_labels, true_labels):
    """(n_pred, n_true) IoU between every predicted and every true object (label 0 ignored)."""
    pred, true = _pair(pred_labels, true_labels, "iou_matrix")
    if pred.dtype.kind not in "biu" or true.dtype.kind not in "biu":
        raise ValueError(f"object metrics need integer label images, got {pred.dtype} and "
                         f"{true.dtype}; label a mask first with split_instances(mask) or "
                         f"scipy.ndimage.label(mask)")
    # Relabel to 0..n (ids need not be consecutive), keeping 0 as background.
    pred_ids, pred_index = np.unique(np.concatenate([[0], pred.ravel()]), return_inverse=True)
    true_ids, true_index = np.unique(np.concatenate([[0], true.ravel()]), return_inverse=True)
    n_pred, n_true = len(pred_ids), len(true_ids)              # both include background
    pairs = pred_index[1:] * n_true + true_index[1:]            # one code per (pred, true) pixel
    inter = np.bincount(pairs, minlength=n_pred * n_true).reshape(n_pred, n_true)
    area_pred, area_true = inter.sum(axis=1), inter.sum(axis=0)
    union = area_pred[:, None] + area_true[None, :] - inter
    return (inter / np.maximum(union, 1))[1:, 1:]               # drop the background row/column


def object_f1(pred_labels, true_labels, threshold=0.5):
    """Object matching at IoU >= threshold: dict of precision, recall, f1, tp, fp, fn, mean_iou.

    Pairs are chosen by the Hungarian algorithm (scipy linear_sum_assignment) maximizing the
    total IoU; mean_iou is the mean IoU of the matched pairs (0 when none match).
    """
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must lie in (0, 1], got {threshold}; 0.5 is the usual choice")
    ious = iou_matrix(pred_labels, true_labels)                 # (n_pred, n_true)
    n_pred, n_true = ious.shape
    rows, cols = linear_sum_assignment(ious, maximize=True) if ious.size else ([], [])
    matched = ious[rows, cols] >= threshold if ious.size else np.zeros(0, bool)
    tp = int(matched.sum())
    fp, fn = n_pred - tp, n_true - tp
    if n_pred == 0 and n_true == 0:
        precision = recall = f1 = 1.0
    else:
        precision = tp / n_pred if n_pred else 0.0
        recall = tp / n_true if n_true else 0.0
        f1 = 2 * tp / (2 * tp + fp + fn)
    mean_iou = float(ious[rows, cols][matched].mean()) if tp else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "tp": tp, "fp": fp, "fn": fn,
            "mean_iou": mean_iou}


def _grid_graph(foreground, cost):
    """Sparse graph of 4-neighbour foreground pixels; an edge costs the mean of its two ends.

    Returns (graph (n, n) CSR, pixels (n,) flat indices of the nodes, node_of (H, W), -1 off).
    """
    height, width = foreground.shape
    pixels = np.flatnonzero(foreground)                                 # (n,)
    node_of = np.full(foreground.shape, -1, np.int64)
    node_of.flat[pixels] = np.arange(len(pixels))
    rows, cols, weights = [], [], []
    for dy, dx in ((0, 1), (1, 0)):                                     # right and down neighbours
        both = foreground[:height - dy, :width - dx] & foreground[dy:, dx:]
        a, b = node_of[:height - dy, :width - dx][both], node_of[dy:, dx:][both]
        w = (cost[:height - dy, :width - dx][both] + cost[dy:, dx:][both]) / 2
        rows += [a, b]
        cols += [b, a]
        weights += [w, w]
    graph = coo_matrix((np.concatenate(weights), (np.concatenate(rows), np.concatenate(cols))),
                       shape=(len(pixels), len(pixels))).tocsr()
    return graph, pixels, node_of


def split_instances(mask_or_prob, threshold=0.5, min_distance=5, sigma=1.0, min_size=10):
    """(labels int32 (H, W), count): the foreground split into objects, touching ones separated.

    1. foreground = mask_or_prob > threshold (works for probabilities, 0/1 and 0/255 masks);
    2. distance transform (scipy.ndimage.distance_transform_edt): each foreground pixel's distance
       to the background; it peaks at nucleus centres and dips at the neck where two touch;
    3. markers: maxima of the Gaussian-smoothed (`sigma`) distance map, at least `min_distance`
       pixels apart; a foreground region without a maximum gets one marker of its own;
    4. watershed as a shortest-path forest (the image foresting transform): every foreground
       pixel joins the marker it reaches most cheaply, stepping only through foreground, where a
       step costs (max distance - distance + 1). Paths through the deep middle of a nucleus are
       cheap, crossing the thin neck is dear, so the split falls on the neck.
       scipy.sparse.csgraph.dijkstra with all markers as sources does the search;
    5. objects smaller than `min_size` pixels are dropped, labels renumbered 1..count.
    """
    image = to_numpy(mask_or_prob)
    if image.ndim != 2:
        raise ValueError(f"split_instances expects a 2-D mask or probability map (H, W), got "
                         f"shape {image.shape}; split a stack plane by plane")
    foreground = image > threshold                                     # (H, W) bool
    if not foreground.any():
        return np.zeros(image.shape, np.int32), 0
    distance = ndimage.gaussian_filter(ndimage.distance_transform_edt(foreground), sigma)
    peaks = distance == ndimage.maximum_filter(distance, size=2 * min_distance + 1)
    peaks &= foreground & (distance > 0)
    markers, n_markers = ndimage.label(peaks, structure=np.ones((3, 3)))  # a plateau is one marker
    regions, n_regions = ndimage.label(foreground)
    unmarked = np.setdiff1d(np.arange(1, n_regions + 1), regions[markers > 0])
    for offset, position in enumerate(ndimage.maximum_position(distance, regions, unmarked), 1):
        markers[position] = n_markers + offset                         # one marker per bare region

    graph, pixels, node_of = _grid_graph(foreground, distance.max() - distance + 1.0)
    seeds = node_of[markers > 0]                                       # (n_seeds,) node ids
    label_of_node = np.zeros(len(pixels), np.int32)
    label_of_node[seeds] = markers[markers > 0]
    _, _, nearest_seed = dijkstra(graph, indices=seeds, min_only=True, return_predecessors=True)
    labels = np.zeros(image.shape, np.int32)                           # (H, W)
    labels.flat[pixels] = label_of_node[nearest_seed]                  # every node reaches a seed

    ids, sizes = np.unique(labels, return_counts=True)
    keep = ids[(ids > 0) & (sizes >= min_size)]
    lookup = np.zeros(int(labels.max()) + 1, np.int32)
    lookup[keep] = np.arange(1, len(keep) + 1)
    return lookup[labels], len(keep)
