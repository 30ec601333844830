"""The training loop: NaN stops with the step named and the last good model kept; Ctrl-C
saves a checkpoint to resume from."""
import numpy as np
import pytest

import minicnn as mc
from minicnn.train import Interrupted, Trainer, TrainingDiverged, TrainSettings


def _trainer(tmp_path):
    images, labels = mc.data.synthetic_nuclei(2, size=32, seed=1)
    pairs = [mc.data.Pair(f"i{k}", mc.data.normalize(im), lb > 0)
             for k, (im, lb) in enumerate(zip(images, labels))]
    settings = TrainSettings(steps=20, batch=2, patch=32, val_every=2, warmup_steps=0)
    return Trainer(mc.models.UNet(1, 1, base_channels=4, depth=2), pairs[:1], pairs[1:],
                   settings, str(tmp_path))


def _spoil_batch(trainer, at_call, spoil):
    clean_batch, calls = trainer.loader.next_batch, []

    def batch():
        x, y = clean_batch()
        calls.append(1)
        if len(calls) == at_call:
            spoil(x)
        return x, y

    trainer.loader.next_batch = batch


def test_nan_loss_stops_with_step_and_keeps_model(tmp_path):
    trainer = _trainer(tmp_path)

    def corrupt_pixel(x):
        x[0, 0, 3, 3] = np.nan

    _spoil_batch(trainer, 5, corrupt_pixel)
    with pytest.raises(TrainingDiverged, match="at step 5"):
        trainer.fit(progress=False)
    kept = mc.load(tmp_path / "model.npz")           # saved at step 4, before the NaN
    assert all(np.isfinite(p.numpy()).all() for p in kept.parameters())
    assert mc.load(tmp_path / "checkpoint.npz")["trainer"]["step"] == 4


def test_ctrl_c_saves_a_checkpoint(tmp_path):
    trainer = _trainer(tmp_path)

    def interrupt(x):
        raise KeyboardInterrupt

    _spoil_batch(trainer, 4, interrupt)
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(progress=False)
    assert mc.load(tmp_path / "checkpoint.npz")["trainer"]["step"] == 3


def _spoil_weights_after_step(trainer, at_step):
    """Make the optimizer write NaN into a weight at step `at_step` (the loss of that step is
    still finite: only the next forward pass would see it)."""
    clean_step = trainer.optimizer.step

    def step():
        clean_step()
        if trainer.step + 1 == at_step:
            next(iter(trainer.model.parameters())).data[...] = np.nan

    trainer.optimizer.step = step


def test_non_finite_weights_are_never_saved_or_validated(tmp_path):
    """val_every=2: the weights turn NaN in step 4, whose loss was finite; step 4 validates.
    Before, that validation saved model.npz and checkpoint.npz with NaN weights."""
    trainer = _trainer(tmp_path)
    _spoil_weights_after_step(trainer, 4)
    with pytest.raises(TrainingDiverged, match="non-finite .* at step 4") as error:
        trainer.fit(progress=False)
    assert "model.npz (step 2) and checkpoint.npz (step 2)" in str(error.value)
    kept = mc.load(tmp_path / "model.npz")
    assert all(np.isfinite(p.numpy()).all() for p in kept.parameters())
    assert mc.load(tmp_path / "checkpoint.npz")["trainer"]["step"] == 2


def test_divergence_before_any_save_says_nothing_was_saved(tmp_path):
    trainer = _trainer(tmp_path)

    def corrupt_pixel(x):
        x[0, 0, 3, 3] = np.nan

    _spoil_batch(trainer, 1, corrupt_pixel)
    with pytest.raises(TrainingDiverged, match="at step 1; training stopped: nothing was "
                                               "saved yet"):
        trainer.fit(progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_ctrl_c_says_what_was_saved(tmp_path):
    trainer = _trainer(tmp_path)

    def interrupt(x):
        raise KeyboardInterrupt

    _spoil_batch(trainer, 4, interrupt)
    with pytest.raises(Interrupted, match=r"checkpoint.npz \(step 3\)"):
        trainer.fit(progress=False)
