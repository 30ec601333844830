"""The bundled nuclei model loads offline and segments the quarter of the DSB image it never
trained on; `minicnn predict nuclei` uses it."""
import numpy as np

import minicnn as mc
from minicnn import cli, metrics, pipeline
from minicnn.predict import predict_image, probabilities_to_mask


def test_pretrained_model_segments_held_out_quarter():
    model = pipeline.load_model("nuclei")
    assert model.metadata["normalization"]["method"] == "percentile"
    image, labels = mc.data.sample_nuclei()
    strip = mc.data.normalize(image)[:, 384:]                       # the validation quarter
    mask = probabilities_to_mask(predict_image(model, strip))
    assert metrics.iou(mask, labels[:, 384:] > 0) >= 0.85


def test_predict_with_bundled_name(tmp_path):
    image, _ = mc.data.sample_nuclei()
    mc.data.write_image(tmp_path / "dsb.tif", image[:200, :300])
    assert cli.main(["predict", "nuclei", str(tmp_path / "dsb.tif"), "--out",
                     str(tmp_path / "out")]) == 0
    mask = mc.data.read_image(tmp_path / "out" / "dsb_mask.tif")
    assert mask.shape == (200, 300) and 0.05 < np.mean(mask > 0) < 0.5
