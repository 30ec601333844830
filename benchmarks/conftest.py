"""pytest setup for the benchmarks: which sizes, and how a case becomes a timed function.

In CI (pyproject's addopts has --benchmark-disable) every benchmark body runs ONCE on tiny
inputs: a smoke test that keeps the suite from rotting. The real sizes of issue 7 are used when
timing is on (`pytest benchmarks --benchmark-enable`) or with MINICNN_BENCH_FULL=1.
"""
import importlib.util
import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
for path in (HERE, HERE.parent):           # the case modules, and minicnn when not installed
    if str(path) not in sys.path and (path == HERE or importlib.util.find_spec("minicnn") is None):
        sys.path.insert(0, str(path))

import bench_cases  # noqa: E402
from bench_common import Missing  # noqa: E402


def timing_enabled(config):
    """pytest-benchmark's own rule: --benchmark-enable wins over --benchmark-disable."""
    return not (config.getoption("benchmark_disable") and
                not config.getoption("benchmark_enable"))


@pytest.fixture(scope="session")
def full(request):
    """True: the real sizes; False: tiny ones (the default, and CI)."""
    return os.environ.get("MINICNN_BENCH_FULL") == "1" or timing_enabled(request.config)


@pytest.fixture
def build_case(full):
    """build_case(key) -> (case, run): run() does one call of the case in minicnn; the test is
    skipped, with the reason, when minicnn does not have the case's op yet."""
    import minicnn_runner

    def build(key):
        case = bench_cases.get_case(key, full)
        try:
            return case, minicnn_runner.build(case)
        except Missing as why:
            pytest.skip(str(why))
    return build
