"""The README's main job: `minicnn demo --quick` on the bundled real nuclei image learns to
segment the held-out quarter (validation IoU >= 0.6), offline, and can be re-run in place."""
import pytest

from minicnn import cli, pipeline


@pytest.mark.slow
def test_quick_demo_learns(tmp_path, capsys):
    out = tmp_path / "demo"
    assert cli.main(["demo", "--quick", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    iou = float(printed.rsplit("validation IoU ")[-1].split()[0])
    assert iou >= 0.6, printed
    for name in ("model.npz", "curves.png", "overlay.png", "history.csv"):
        assert (out / name).stat().st_size > 0


def test_demo_replaces_only_its_own_output(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    with pytest.raises(FileExistsError, match="--force"):
        pipeline.prepare_output_folder(str(out), marker=pipeline.DEMO_MARKER)
    ours = tmp_path / "demo"
    pipeline.prepare_output_folder(str(ours), marker=pipeline.DEMO_MARKER)
    (ours / "model.npz").write_text("old run")
    pipeline.prepare_output_folder(str(ours), marker=pipeline.DEMO_MARKER)   # no error: ours
