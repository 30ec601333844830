"""The comparison script, end to end, in its quick mode on a few tiny cases.

It must produce a markdown table with a minicnn/PyTorch ratio column; with PyTorch installed the
ratio of a case both libraries can run must be a positive number, without it the script must
still time minicnn.
"""
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


CASES = ["relu_fwdbwd", "conv2d_16x16_256_fwd", "unet_memory_b4_256"]


def test_compare_quick(tmp_path):
    table, raw = tmp_path / "table.md", tmp_path / "raw.json"
    done = subprocess.run([sys.executable, str(HERE / "compare.py"), "--quick",
                           "--cases", ",".join(CASES), "--out", str(table), "--json", str(raw)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = table.read_text().splitlines()
    header = next(line for line in lines if line.startswith("| case |"))
    columns = [c.strip() for c in header.strip("|").split("|")]
    assert "ratio minicnn/PyTorch" in columns
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.strip("|").split("|")]
            for line in lines if line.startswith("| relu")}
    relu = rows["relu (4,32,128,128) fwd+bwd"]
    assert relu[1].endswith(" ms"), relu               # one run: a time, no range
    results = json.loads(raw.read_text())["results"]
    assert results["minicnn"]["relu_fwdbwd"][0]["median"] > 0
    if importlib.util.find_spec("torch") is not None:
        assert float(relu[columns.index("ratio minicnn/PyTorch")]) > 0
        assert results["PyTorch"]["relu_fwdbwd"][0]["median"] > 0
    else:
        assert "PyTorch" not in results
