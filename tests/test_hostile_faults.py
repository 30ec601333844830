"""Faults through the real `minicnn` command (a subprocess each): kill -9 during training and
during prediction (then resume / rerun works and no partial file has a final name), Ctrl-C at
several moments (one line, exit 130, and the line says truthfully what was saved), two runs in
one folder, a full disk (a 2 MB tmpfs; skipped where mounting is not allowed) and running out of
memory (an address-space limit)."""
import os
import re
import resource
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import minicnn as mc
from minicnn.data import synthetic_nuclei, write_image

COMMAND = [sys.executable, "-m", "minicnn.cli"]
NET = ["--batch", "1", "--patch", "32", "--base-channels", "2", "--depth", "2", "--quiet"]
ENV = dict(os.environ, MPLBACKEND="Agg")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """root/images + root/masks (two 32 x 32 pairs), root/many (12 images of 96 x 96) and a
    trained root/run/model.npz."""
    root = tmp_path_factory.mktemp("faults")
    images, labels = synthetic_nuclei(2, size=32, seed=0)
    for folder in ("images", "masks", "many"):
        os.makedirs(root / folder)
    for i in range(2):
        write_image(root / "images" / f"a{i}.tif", images[i])
        write_image(root / "masks" / f"a{i}.tif", labels[i])
    for i, image in enumerate(synthetic_nuclei(12, size=96, seed=1)[0]):
        write_image(root / "many" / f"m{i:02d}.tif", image)
    done = run_command(train_argv(root, root / "run", "--steps", "2", "--val-every", "1"))
    assert done.returncode == 0, done.stderr
    return root


def train_argv(root, out, *flags, images="images"):
    return ["train", "--images", str(root / images), "--masks", str(root / "masks"),
            "--out", str(out), *NET, *flags]


def predict_argv(root, out, *flags):
    images = sorted(str(root / "many" / name) for name in os.listdir(root / "many"))
    return ["predict", str(root / "run" / "model.npz"), *images, "--out", str(out),
            "--tile", "32", "--overlap", "8", *flags]


def run_command(argv, **options):
    return subprocess.run(COMMAND + argv, capture_output=True, text=True, env=ENV, timeout=300,
                          **options)


def start(argv):
    """The command as from a terminal: Ctrl-C reaches it (a shell's background job would
    otherwise pass SIGINT on ignored)."""
    return subprocess.Popen(COMMAND + argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=ENV,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def wait_for(condition, process, seconds=120):
    """Poll until condition() holds; False if the process ended first or time ran out."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        if process.poll() is not None:
            return condition()
        time.sleep(0.005)
    return False


def one_line(text):
    text = text.strip()
    assert len(text.splitlines()) == 1 and "Traceback" not in text, text
    return text


def temporaries_and_lock(folder):
    return [name for name in os.listdir(folder)
            if name.startswith(".tmp-") or name == ".minicnn.lock"]


def finished_files_are_whole(folder):
    """Every file with a final name reads back (a killed write leaves only a temporary)."""
    for name in os.listdir(folder):
        path = os.path.join(folder, name)
        if name.endswith(".npz"):
            mc.load(path)
        elif name.endswith(".tif"):
            mc.data.read_image(path)


def saved_step(line, name):
    """The step that `line` says the file `name` holds, or None if it names no such file."""
    found = re.search(rf"{re.escape(name)} \(step (\d+)\)", line)
    return int(found.group(1)) if found else None


@pytest.mark.slow
def test_kill_9_during_training_then_resume(data, tmp_path):
    out = tmp_path / "run"
    process = start(train_argv(data, out, "--steps", "400", "--val-every", "2"))
    assert wait_for(lambda: (out / "checkpoint.npz").exists(), process)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    finished_files_are_whole(out)
    step = mc.load(out / "checkpoint.npz")["trainer"]["step"]
    (out / ".tmp-checkpoint-killed.npz").write_bytes(b"half a file")   # as a kill can leave
    done = run_command(train_argv(data, out, "--steps", str(step + 2), "--val-every", "2",
                                  "--resume", str(out / "checkpoint.npz")))
    assert done.returncode == 0, done.stderr
    assert mc.load(out / "checkpoint.npz")["trainer"]["step"] == step + 2
    assert temporaries_and_lock(out) == []       # the dead run's lock and temporary are gone


def signal_prediction_after_its_first_image(data, out, signum):
    """Start predicting 12 images; send `signum` once the first mask is written; stderr."""
    process = start(predict_argv(data, out))
    assert wait_for(lambda: out.exists() and any(n.endswith("_mask.tif")
                                                 for n in os.listdir(out)), process)
    process.send_signal(signum)
    _, err = process.communicate()
    finished_files_are_whole(out)
    return process.returncode, err


def test_kill_9_during_prediction_then_rerun(data, tmp_path):
    out = tmp_path / "pred"
    signal_prediction_after_its_first_image(data, out, signal.SIGKILL)
    done = run_command(predict_argv(data, out, "--force"))
    assert done.returncode == 0, done.stderr
    assert len([n for n in os.listdir(out) if n.endswith("_mask.tif")]) == 12
    assert temporaries_and_lock(out) == []


def test_ctrl_c_while_starting(data, tmp_path):
    """SIGINT while the command imports NumPy and the engine (seen in /proc: numpy is mapped)."""
    out = tmp_path / "run"
    process = start(train_argv(data, out, "--steps", "5"))
    maps = f"/proc/{process.pid}/maps"
    if not os.path.exists(maps):
        process.kill()
        pytest.skip("no /proc here to see when the import starts")

    def importing():
        try:
            with open(maps) as f:
                return "numpy" in f.read()
        except OSError:
            return False

    assert wait_for(importing, process)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate()
    assert process.returncode == 130
    assert "interrupted before any result was written" in one_line(err)
    assert not out.exists() or os.listdir(out) == []


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["data loading", "training"])
def test_ctrl_c_says_truthfully_what_was_saved(data, tmp_path, moment):
    out = tmp_path / "run"
    if moment == "data loading":        # 600 files (links to two pairs): reading takes a while
        for folder in ("images", "masks"):
            os.makedirs(tmp_path / folder)
            for i in range(300):
                os.link(data / folder / f"a{i % 2}.tif", tmp_path / folder / f"c{i:03d}.tif")
        argv = train_argv(tmp_path, out, "--steps", "400", "--val-every", "2")
        ready = (lambda: (out / ".minicnn.lock").exists())
    else:
        argv = train_argv(data, out, "--steps", "400", "--val-every", "2")
        ready = (lambda: (out / "checkpoint.npz").exists())
    process = start(argv)
    assert wait_for(ready, process)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate()
    assert process.returncode == 130
    line = one_line(err)
    step = saved_step(line, "checkpoint.npz")
    if step is None:                    # nothing saved, says the line: then nothing is there
        assert "before any result was written" in line or "nothing was saved" in line, line
        assert not (out / "checkpoint.npz").exists()
    else:                               # the checkpoint it names holds the step it names
        assert mc.load(out / "checkpoint.npz")["trainer"]["step"] == step
    if moment == "training":
        assert step is not None
        done = run_command(train_argv(data, out, "--steps", str(step + 2), "--val-every", "2",
                                      "--resume", str(out / "checkpoint.npz")))
        assert done.returncode == 0, done.stderr


def test_ctrl_c_during_prediction(data, tmp_path):
    out = tmp_path / "pred"
    status, err = signal_prediction_after_its_first_image(data, out, signal.SIGINT)
    line = one_line(err)
    assert status == 130 and "complete in" in line, line
    done = int(re.search(r"outputs of (\d+) of 12 images", line).group(1))
    assert len([n for n in os.listdir(out) if n.endswith("_mask.tif")]) == done
    assert temporaries_and_lock(out) == []


@pytest.mark.slow
def test_second_run_into_a_busy_folder_is_told_who_holds_it(data, tmp_path):
    out = tmp_path / "run"
    first = start(train_argv(data, out, "--steps", "400", "--val-every", "2"))
    try:
        assert wait_for(lambda: (out / ".minicnn.lock").exists(), first)
        second = run_command(train_argv(data, out, "--steps", "2", "--force"))
        assert second.returncode == 2
        assert f"another minicnn run (process {first.pid})" in one_line(second.stderr)
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate()


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MB tmpfs, nearly filled by a ballast file (mounting needs root and a kernel that
    allows it; skipped with the reason otherwise)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mount = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)],
                           capture_output=True, text=True)
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mount.stderr.strip() or 'not root'}")
    try:
        stats = os.statvfs(disk)
        (disk / "ballast").write_bytes(b"\0" * (stats.f_bavail * stats.f_frsize - 24 * 1024))
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def test_full_disk_during_prediction(data, small_disk):
    out = small_disk / "pred"
    done = run_command(predict_argv(data, out))
    assert done.returncode == 2
    line = one_line(done.stderr)
    assert "no space left on device" in line and "free some space" in line, line
    finished_files_are_whole(out)
    assert temporaries_and_lock(out) == []


def test_full_disk_during_training(data, small_disk):
    out = small_disk / "run"
    done = run_command(train_argv(data, out, "--steps", "4", "--val-every", "1"))
    assert done.returncode == 2
    line = one_line(done.stderr)
    assert "no space left on device" in line, line
    finished_files_are_whole(out)
    assert [n for n in os.listdir(out) if n.startswith(".tmp-")] == []


@pytest.mark.slow
def test_out_of_memory_is_one_line_with_the_fix(data, tmp_path):
    def limit_memory():
        resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))

    done = run_command(train_argv(data, tmp_path / "run", "--steps", "2", "--patch", "2048")
                       + ["--batch", "256"], preexec_fn=limit_memory)
    assert done.returncode == 2, done.stderr
    line = one_line(done.stderr)
    assert "out of memory" in line and "--patch" in line and "--batch" in line, line


def test_output_tiffs_get_the_users_mode(data, tmp_path):
    done = run_command(["predict", str(data / "run" / "model.npz"), str(data / "images" / "a0.tif"),
                        "--out", str(tmp_path / "p"), "--instances"],
                       preexec_fn=lambda: os.umask(0o022))
    assert done.returncode == 0, done.stderr
    for name in ("a0_prob.tif", "a0_mask.tif", "a0_labels.tif", "counts.csv"):
        assert (tmp_path / "p" / name).stat().st_mode & 0o777 == 0o644, name


def test_resume_continues_in_the_checkpoints_folder_or_a_new_one(data, tmp_path):
    run = tmp_path / "run"
    assert run_command(train_argv(data, run, "--steps", "2", "--val-every", "1")).returncode == 0
    history = (run / "history.csv").read_text()
    # no --out: the run continues where its checkpoint is
    argv = train_argv(data, run, "--steps", "3", "--val-every", "1",
                      "--resume", str(run / "checkpoint.npz"))
    argv.remove("--out")
    argv.remove(str(run))
    done = run_command(argv)
    assert done.returncode == 0, done.stderr
    assert (run / "history.csv").read_text().startswith(history)        # continued, not lost
    # a new folder: it gets the run's best model, even when the new steps do not beat it
    new = tmp_path / "new"
    done = run_command(train_argv(data, new, "--steps", "4", "--val-every", "1",
                                  "--resume", str(run / "checkpoint.npz")))
    assert done.returncode == 0, done.stderr
    assert mc.load(new / "model.npz") is not None
    assert np.isfinite(mc.load(new / "checkpoint.npz")["trainer"]["best_iou"])
