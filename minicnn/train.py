"""Training a segmentation network: the story of the primer, as a loop.

Each step feeds a batch of image patches forward through the network, compares the prediction
with the ground-truth masks (the loss: the error), back-propagates that error to every weight and
bias (`loss.backward()`), and lets the optimizer move each of them a little against its gradient
(`optimizer.step()`). Every `val_every` steps the network segments the validation images it never
trains on, and the best model so far is kept. Everything needed to continue later (weights,
optimizer state, random-number state, step, history) goes into `checkpoint.npz`, written
atomically, so an interrupted run resumes exactly where it stopped.
"""
import contextlib
import csv
import dataclasses
import math
import os
import shutil
import time

import numpy as np

from minicnn import backend, functional as F, io, metrics, optim, rng as global_rng
from minicnn.data import BatchLoader
from minicnn.data.files import atomic_path
from minicnn.predict import predict_image, probabilities_to_mask
from minicnn.tensor import tensor


@dataclasses.dataclass
class TrainSettings:
    """Everything that defines a training run (stored in checkpoints and model files)."""
    steps: int = 800
    batch: int = 8
    patch: int = 128
    optimizer: str = "adam"           # "adam" or "sgd"
    lr: float = 0.0                   # 0 means the recipe's default: adam 3e-3, sgd 0.05
    momentum: float = 0.9             # sgd only
    schedule: str = "cosine"          # "cosine" or "constant"
    warmup_steps: int = 20
    dice: bool = True                 # add the soft Dice loss to BCE (counters class imbalance)
    classes: int = 0                  # 0: one foreground class (BCE); N >= 2: cross-entropy
    foreground_bias: float = 0.5      # probability that a patch is centred on foreground
    val_every: int = 50
    threshold: float = 0.5
    seed: int = 0
    device: str = "cpu"

    def learning_rate(self):
        return self.lr or {"adam": 3e-3, "sgd": 0.05}[self.optimizer]


class TrainingDiverged(RuntimeError):
    """The loss or the weights became NaN or infinite."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during training or prediction; the message says what was saved, and where."""


def make_optimizer(model, settings):
    params = list(model.parameters())
    lr = settings.learning_rate()
    if settings.optimizer == "adam":
        return optim.Adam(params, lr=lr)
    if settings.optimizer == "sgd":
        return optim.SGD(params, lr=lr, momentum=settings.momentum)
    raise ValueError(f"optimizer must be 'adam' or 'sgd', got {settings.optimizer!r}")


def make_scheduler(optimizer, settings):
    """Linear warm-up for `warmup_steps`, then constant or cosine decay to 0 at `steps`."""
    warmup = min(settings.warmup_steps, max(0, settings.steps - 1))
    if settings.schedule == "constant":
        return optim.LinearWarmup(optimizer, warmup_steps=warmup)
    if settings.schedule == "cosine":
        return optim.CosineAnnealingLR(optimizer, T_max=max(1, settings.steps - warmup),
                                       warmup_steps=warmup)
    raise ValueError(f"schedule must be 'cosine' or 'constant', got {settings.schedule!r}")


def segmentation_loss(logits, target, settings):
    """BCE-with-logits (+ Dice) for one foreground class, cross-entropy for several."""
    if settings.classes >= 2:
        return F.cross_entropy(logits, target)
    loss = F.binary_cross_entropy_with_logits(logits, target)
    return loss + F.dice_loss(logits, target) if settings.dice else loss


def mask_scores(pred, truth, classes=0):
    """(IoU, Dice) of a predicted mask: foreground for one class, else the mean over the
    foreground classes 1..N-1 (class 0 is background)."""
    if classes < 2:
        return metrics.iou(pred, truth > 0), metrics.dice(pred, truth > 0)
    per_class = [(metrics.iou(pred == c, truth == c), metrics.dice(pred == c, truth == c))
                 for c in range(1, classes)]
    return tuple(float(v) for v in np.mean(per_class, axis=0))


def evaluate_pairs(model, pairs, settings):
    """Mean IoU and Dice of the model's masks on (name, image, mask) pairs it predicts whole."""
    scores = []
    for _, image, mask in pairs:
        probs = predict_image(model, image, device=settings.device)
        scores.append(mask_scores(probabilities_to_mask(probs, settings.threshold), mask,
                                  settings.classes))
    model.train()
    return tuple(float(v) for v in np.mean(scores, axis=0))


class Trainer:
    """Runs `fit`; keeps the state that checkpoints save and restore."""

    def __init__(self, model, train_pairs, val_pairs, settings, out_dir, extra_metadata=None):
        self.model, self.settings, self.out_dir = model, settings, out_dir
        self.train_pairs, self.val_pairs = train_pairs, val_pairs
        self.metadata = dict(extra_metadata or {})
        self.optimizer = make_optimizer(model, settings)
        self.scheduler = make_scheduler(self.optimizer, settings)
        self.loader_rng = np.random.default_rng(settings.seed)
        self.loader = BatchLoader(train_pairs, patch_size=settings.patch,
                                  batch_size=settings.batch, rng=self.loader_rng,
                                  foreground_bias=settings.foreground_bias,
                                  classes=settings.classes or None)
        self.step = 0
        self.history = []            # one dict per validation: step, loss, val_iou, ...
        self.best_iou = -1.0
        self.recent_losses = []
        self.saved = {}              # file name in out_dir -> the step it holds (written by us)

    # ---- checkpoints ----
    def checkpoint_path(self):
        return os.path.join(self.out_dir, "checkpoint.npz")

    def save_checkpoint(self):
        """Everything needed to continue exactly here, in one atomically written .npz."""
        self.check_weights_finite()
        trainer = {"step": self.step, "best_iou": self.best_iou, "history": self.history,
                   "settings": dataclasses.asdict(self.settings),
                   "loader_rng": self.loader_rng.bit_generator.state,
                   "global_rng": global_rng.get_state()}
        io.save({"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                 "scheduler": self.scheduler.state_dict(), "trainer": trainer,
                 "metadata": self.metadata}, self.checkpoint_path())
        self.saved["checkpoint.npz"] = self.step

    def resume(self, path):
        """Restore weights, optimizer, schedule, random states, step and history from `path`."""
        state = io.load(path)
        if not isinstance(state, dict) or "trainer" not in state:
            raise ValueError(f"{path} is not a minicnn training checkpoint (checkpoint.npz from "
                             f"`minicnn train`); give the checkpoint.npz of an earlier run")
        trainer = state["trainer"]
        saved = TrainSettings(**trainer["settings"])
        for name in ("batch", "patch", "classes", "optimizer", "dice", "seed"):
            if getattr(saved, name) != getattr(self.settings, name):
                raise ValueError(f"the checkpoint {path} was trained with {name}="
                                 f"{getattr(saved, name)!r} but this run asks for "
                                 f"{getattr(self.settings, name)!r}; use the same settings to "
                                 f"resume, or start a new run without --resume")
        try:
            self.model.load_state_dict(state["model"])
        except ValueError as error:
            raise ValueError(f"the checkpoint {path} does not fit the network of this run: "
                             f"{error}. Resume with the network settings of that run "
                             f"(--base-channels, --depth, --classes) and images with as many "
                             f"channels (--channel-axis), or start a new run without --resume"
                             ) from None
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.step, self.best_iou = int(trainer["step"]), float(trainer["best_iou"])
        self.history = list(trainer["history"])
        self.loader_rng.bit_generator.state = trainer["loader_rng"]
        global_rng.set_state(trainer["global_rng"])
        self.adopt_best_model(path)
        if os.path.exists(self.checkpoint_path()) and os.path.samefile(self.checkpoint_path(),
                                                                       path):
            self.saved["checkpoint.npz"] = self.step
        if self.history and os.path.exists(os.path.join(self.out_dir, "model.npz")):
            self.saved["model.npz"] = max(self.history, key=lambda r: r["val_iou"])["step"]
        else:                        # the best model is not here: the next validation saves one
            self.best_iou = -1.0

    def adopt_best_model(self, checkpoint):
        """Resuming into another folder: the run's best model so far comes along (a copy), so
        that out_dir holds the best model even when the remaining steps do not beat it."""
        source = os.path.join(os.path.dirname(os.path.abspath(checkpoint)), "model.npz")
        target = os.path.join(self.out_dir, "model.npz")
        if os.path.exists(source) and not os.path.exists(target):
            with atomic_path(target) as temp_name:
                shutil.copyfile(source, temp_name)

    def save_model(self, name="model.npz"):
        self.check_weights_finite()
        io.save(self.model, os.path.join(self.out_dir, name), metadata=self.metadata)
        self.saved[name] = self.step

    def write_history(self):
        if not self.history:
            return
        with atomic_path(os.path.join(self.out_dir, "history.csv")) as temp_name:
            with open(temp_name, "w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=list(self.history[0]))
                writer.writeheader()
                writer.writerows(self.history)

    def what_was_saved(self):
        """One sentence, true at this moment: which files of this run hold which step."""
        if not self.saved:
            return f"nothing was saved yet (the first save comes with the first validation, " \
                   f"at step {self.settings.val_every})"
        files = [f"{name} (step {step})" for name, step in sorted(self.saved.items(),
                                                                  reverse=True)]
        return f"{' and '.join(files)} in {self.out_dir} hold the last good state"

    def check_weights_finite(self):
        """Never save, validate or checkpoint a model with NaN or infinite weights."""
        for name, parameter in self.model.named_parameters():
            if not bool(backend.get_array_module(parameter.data).isfinite(parameter.data).all()):
                raise TrainingDiverged(
                    f"the weights became non-finite ({name}) at step {self.step}; training "
                    f"stopped: {self.what_was_saved()}. Lower the learning rate (now "
                    f"{self.settings.learning_rate()}) or check the data for extreme values")

    # ---- the loop ----
    def train_step(self):
        s = self.settings
        x, y = self.loader.next_batch()               # (B,1,P,P) and (B,1,P,P) 0/1 or (B,P,P) ids
        x, y = tensor(x, device=s.device), tensor(y, device=s.device)
        logits = self.model(x)                                              # (B,C,P,P)
        loss = segmentation_loss(logits, y, s)
        value = float(loss.item())
        if not math.isfinite(value):
            raise TrainingDiverged(
                f"the loss became {value} at step {self.step + 1}; training stopped: "
                f"{self.what_was_saved()}. Lower the learning rate (now {s.learning_rate()}) or "
                f"check the data for extreme values")
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self.scheduler.step()
        self.step += 1
        self.recent_losses.append(value)
        return value

    def validate(self, elapsed):
        self.check_weights_finite()
        val_iou, val_dice = evaluate_pairs(self.model, self.val_pairs, self.settings)
        row = {"step": self.step, "loss": float(np.mean(self.recent_losses)),
               "val_iou": round(val_iou, 5), "val_dice": round(val_dice, 5),
               "lr": self.optimizer.lr, "seconds": round(elapsed, 2)}
        self.recent_losses = []
        self.history.append(row)
        if val_iou > self.best_iou:
            self.best_iou = val_iou
            self.save_model()
        self.save_checkpoint()
        self.write_history()
        return row

    def fit(self, progress=True, until=None):
        """Train until `settings.steps` (or stop early at step `until`, saving a checkpoint to
        resume from); returns the history (list of dicts)."""
        from tqdm.auto import tqdm

        s = self.settings
        start, elapsed_before = time.perf_counter(), (self.history[-1]["seconds"]
                                                      if self.history else 0.0)
        self.model.train()
        bar = tqdm(total=s.steps, initial=self.step, unit="step", dynamic_ncols=True,
                   disable=None if progress else True)    # None: no bar when not on a terminal
        log_lines = progress and bar.disable              # then one line per validation instead
        try:
            while self.step < min(s.steps, until or s.steps):
                loss = self.train_step()
                bar.update(1)
                if self.step % s.val_every == 0 or self.step == s.steps:
                    row = self.validate(elapsed_before + time.perf_counter() - start)
                    bar.set_postfix(loss=f"{loss:.4f}", val_iou=f"{row['val_iou']:.3f}")
                    if log_lines:
                        print(f"step {self.step}/{s.steps}: loss {row['loss']:.4f}, validation "
                              f"IoU {row['val_iou']:.3f}", flush=True)
                else:
                    bar.set_postfix(loss=f"{loss:.4f}")
        except KeyboardInterrupt:
            bar.close()
            with contextlib.suppress(TrainingDiverged):       # a non-finite model is not saved
                self.save_checkpoint()
            raise Interrupted(f"interrupted at step {self.step}: "
                                      f"{self.what_was_saved()}") from None
        bar.close()
        if self.step < s.steps:
            self.save_checkpoint()
        backend.synchronize()
        return self.history
