"""Writing files so that nothing a user has is lost: atomic writes and one run per folder.

    atomic_path(path)        a unique temporary file next to `path`, renamed over it when the
                             block succeeds (os.replace is atomic: readers see the old file or the
                             new one, never half of one) and removed when it fails
    write_csv(path, rows)    a CSV table, atomically, refusing to replace a file unless asked
    FolderLock(folder)       `.minicnn.lock` holding our process id: a second run into the same
                             folder is told which process holds it; a lock left by a killed
                             process (its pid no longer runs) is taken over
    remove_stale_temporaries(folder)   temporary files a killed run left behind

Temporary names start with TEMP_PREFIX (".tmp-"), like those of minicnn.io.save.
"""
import contextlib
import csv
import errno
import os
import re
import tempfile
from pathlib import Path

from minicnn.data.errors import DataError, OverwriteError

TEMP_PREFIX = ".tmp-"
TEMP_SUFFIXES = (".npz", ".tif", ".csv", ".lock")   # what minicnn writes via a temporary
LOCK_NAME = ".minicnn.lock"


def user_file_mode():
    """The mode a file created with open() would get: 0o666 less the process's umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_path(path):
    """Yield a unique temporary path in `path`'s folder; on success it replaces `path`."""
    path = Path(path)
    handle, temp_name = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{path.stem}-",
                                         suffix=path.suffix, dir=path.parent)
    os.close(handle)
    try:
        yield temp_name
        os.chmod(temp_name, user_file_mode())       # mkstemp makes 0600; give the usual mode
        os.replace(temp_name, path)
    except OSError as error:
        # NumPy's tofile (which tifffile uses) reports a short write as "N requested and M
        # written", without an errno; a regular file is only written short when the disk is full
        if error.errno is None and re.search(r"requested and \d+ written", str(error)):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path)) from None
        raise
    finally:
        if os.path.exists(temp_name):
            os.remove(temp_name)


def refuse_overwrite(path, overwrite):
    if os.path.exists(path) and not overwrite:
        raise OverwriteError(f"{path} already exists; choose another output folder, or replace "
                             f"it with --force (overwrite=True)")


def write_csv(path, rows, overwrite=False):
    """Write `rows` (a header row first) to the CSV file `path`, atomically."""
    refuse_overwrite(path, overwrite)
    with atomic_path(path) as temp_name:
        with open(temp_name, "w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows(rows)
    return path


def refuse_non_utf8_name(path):
    """Names go into counts.csv, titles and messages as UTF-8 text: refuse one that is not,
    before any work starts (on Linux a file name may be any bytes)."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        shown = os.fsencode(str(path)).decode("utf-8", "backslashreplace")
        raise DataError(f"the file name {shown} is not valid UTF-8 text; rename the file "
                        f"(e.g. with letters, digits, '-' and '_')") from None


def remove_stale_temporaries(folder):
    """Delete the temporary files (.tmp-*.npz/.tif/.csv/.lock) that killed runs left in `folder`."""
    for name in os.listdir(folder):
        if name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIXES):
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(folder, name))


def process_running(pid):
    try:
        os.kill(pid, 0)                 # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        return True                     # it exists, but belongs to another user
    return True


class FolderBusyError(DataError):
    """Another minicnn process is writing into the folder."""


class FolderLock:
    """`with FolderLock(folder):` marks `folder` as ours until the block ends."""

    def __init__(self, folder):
        self.path = os.path.join(folder, LOCK_NAME)
        self.folder = folder

    def holder(self):
        """The pid of a live process holding the lock, or None (no lock, or a stale one)."""
        try:
            with open(self.path) as f:
                pid = int(f.read().strip() or 0)
        except (FileNotFoundError, ValueError):
            return None
        return pid if pid > 0 and pid != os.getpid() and process_running(pid) else None

    def check_free(self):
        pid = self.holder()
        if pid is not None:
            raise FolderBusyError(
                f"another minicnn run (process {pid}) is writing into {self.folder}; wait for it "
                f"to finish or choose another output folder (if no such process runs, delete "
                f"{self.path})")

    def acquire(self):
        try:                                   # O_EXCL: of two runs starting at once, one wins
            handle = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            self.check_free()
            with atomic_path(self.path) as temp_name:    # a stale lock is replaced whole
                with open(temp_name, "w") as f:
                    f.write(str(os.getpid()))
        else:
            os.write(handle, str(os.getpid()).encode())
            os.close(handle)
        return self

    def release(self):
        with contextlib.suppress(OSError):
            with open(self.path) as f:
                mine = f.read().strip() == str(os.getpid())
            if mine:
                os.remove(self.path)

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
