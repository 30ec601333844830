"""The instructor's record of a student copy, and the check that a copy was changed only inside
its exercises.

`make` writes one record per copy into the instructor's own folder, never into the copy:

    $MINICNN_HOME/assignments/<id>.json      (MINICNN_HOME defaults to ~/.minicnn)
        id          the copy's id, also in the copy's assignment.json (how grade finds it)
        seed        the seed of the hidden graded cases (exercises.cases_of)
        exercises   the exercises of the copy
        files       {path in the copy: SHA-256} of every file make wrote
        kept        {path: [the text between the stubs]} for each file with stubs

`grade` hashes the copy again. A file whose hash differs was changed; if it holds stubs, it
was changed only inside its exercises when the text around the stubs (kept) is still all
there, in order. Everything else is reported as "modified outside the exercises". Notebooks are
the student's answers and are not checked.
"""
import hashlib
import json
import os
import re
import secrets
import tempfile
from pathlib import Path

STUDENT_WORK = ("notebooks/",)           # the student's own answers: changes are expected
IGNORED = {"__pycache__", ".pytest_cache", ".ipynb_checkpoints", ".venv", "venv", ".git"}
BUILT = ".egg-info"                      # what `pip install -e .` writes into the copy's folder


def home():
    """The instructor's folder for records: $MINICNN_HOME, or ~/.minicnn."""
    return Path(os.environ.get("MINICNN_HOME") or Path.home() / ".minicnn")


def new_id():
    return secrets.token_hex(8)


def new_seed():
    return secrets.randbelow(2 ** 31)


def path_of(copy_id):
    return home() / "assignments" / f"{copy_id}.json"


def save(record):
    """Write the record atomically; return its path."""
    path = path_of(record["id"])
    write_atomically(path, json.dumps(record, indent=1) + "\n")
    return path


def write_atomically(path, text):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(handle, "w") as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def copy_id(root):
    """The id in a copy's assignment.json, or None."""
    try:
        return json.loads((Path(root) / "assignment.json").read_text()).get("id")
    except (OSError, ValueError, AttributeError):
        return None


def load(root):
    """The instructor's record of the copy in root, or None when there is none here."""
    found = copy_id(root)
    if not isinstance(found, str) or not re.fullmatch(r"[0-9a-f]{16}", found):
        return None
    path = path_of(found)
    return json.loads(path.read_text()) if path.is_file() else None


def digest(path):
    """SHA-256 of a file, with Windows line ends read as Unix ones (an editor may change them)."""
    return hashlib.sha256(Path(path).read_bytes().replace(b"\r\n", b"\n")).hexdigest()


def files_of(root):
    """Every file of a copy (relative POSIX paths), without caches, virtual environments and
    pip's build records."""
    root = Path(root)
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                  if p.is_file() and not IGNORED & set(p.relative_to(root).parts)
                  and not any(part.endswith(BUILT) for part in p.relative_to(root).parts)
                  and p.suffix != ".pyc")


def hashes(root):
    return {name: digest(Path(root) / name) for name in files_of(root)}


def changed_outside(root, record):
    """The files of the copy changed outside its exercises: modified, deleted, or added where
    Python would run them (inside minicnn/, or a .py / .pth file at the top)."""
    root = Path(root)
    found = []
    for name, expected in record["files"].items():
        path = root / name
        if name.startswith(STUDENT_WORK):
            continue
        if not path.is_file():
            found.append(f"{name} (deleted)")
        elif digest(path) != expected and not only_inside_stubs(path, record["kept"].get(name)):
            found.append(name)
    for name in files_of(root):
        runs = name.startswith("minicnn/") or ("/" not in name and name.endswith((".py", ".pth")))
        if runs and name not in record["files"]:
            found.append(f"{name} (added)")
    return found


def only_inside_stubs(path, kept):
    """True when the file still holds every piece of kept text, in order, with only the stubs
    between them replaced."""
    if kept is None:
        return False
    text = path.read_bytes().replace(b"\r\n", b"\n").decode("utf-8", errors="replace")
    pattern = r"\n".join(re.escape(piece) if piece is not None else "(.*?)" for piece in kept)
    return re.fullmatch(pattern, text, flags=re.DOTALL) is not None


def kept_pieces(parts):
    """markers.render_parts' output -> the record's list: the kept text, None for each stub
    (the pieces render joins with newlines)."""
    return ["\n".join(lines) if kind == "kept" else None for kind, lines in parts if lines]
