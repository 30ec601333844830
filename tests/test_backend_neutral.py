"""Ops must run unchanged on NumPy and CuPy arrays, so they may only reach array functions
through `xp = get_array_module(x)` (NumPy's constants and type names, np.inf or np.uint8, are
fine); only minicnn/backend.py may know that CuPy exists."""
import pathlib
import re

import minicnn

PACKAGE = pathlib.Path(minicnn.__file__).parent
NUMPY_CALL = re.compile(r"(?<![\w.])np\.(\w+)\s*\(")      # np.exp(...): a call on data
ALLOWED = {"float16", "float32", "float64", "int64", "int32", "uint8", "dtype"}  # dtype names


def _sources(*folders):
    for folder in folders:
        yield from sorted((PACKAGE / folder).glob("*.py"))


def test_ops_reach_arrays_only_through_xp():
    offenders = []
    for path in _sources("ops", "fast", "reference"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#")[0]
            for name in NUMPY_CALL.findall(code):
                if name not in ALLOWED:
                    offenders.append(f"{path.name}:{number}: np.{name}")
    assert not offenders, "use xp = get_array_module(x) instead:\n" + "\n".join(offenders)


def test_only_backend_imports_cupy():
    offenders = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
                 if p.name != "backend.py" and re.search(r"^\s*(import|from) cupy", p.read_text(), re.M)]
    assert not offenders, f"only backend.py may import cupy, found in: {offenders}"


def test_the_check_would_catch_a_leak(tmp_path):
    line = "    y = np.exp(x) + np.inf  # leaks to the host; constants like np.inf are fine"
    assert NUMPY_CALL.findall(line.split("#")[0]) == ["exp"]
