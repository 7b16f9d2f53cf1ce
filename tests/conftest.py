"""Shared fixtures: the demo and real datasets (built once per run), the demo's estimates, the path to
the real files, one browser and one Spark session per worker; and how xdist schedules the tests."""
from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from xdist.scheduler import LoadScopeScheduling

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "real"
DEMO_SEED = 2013


# Scheduling on two workers (scripts/test.sh: pytest-xdist, ``--dist loadgroup --no-loadscope-reorder``).
# xdist 3.8 groups tests by renaming ``item._nodeid``, which pytest 9.2 no longer reads (its nodeid is
# ``item._id``): its groups were silently ignored and every test was scheduled on its own. So the
# controller asks `schedule_group` (below) instead, from the node id alone, because it collects nothing.
SPARK_MODULES = ("tests/test_hes_spark.py", "tests/test_hes_databricks.py", "tests/test_hes_typed_input.py")
"""Every module whose tests use the `spark` fixture: they share a worker, so one JVM serves them
(`pytest_collection_modifyitems` fails the run if a test elsewhere uses it)."""
SPLIT_MODULES = ("tests/browser/test_anonymised.py",)
"""Modules whose tests are scheduled one by one: its anonymity scans are the longest tests of the run
and each needs only its worker's own demo server (tests/browser/conftest.py)."""
LONGEST_FIRST = ("tests/browser/test_anonymised.py::test_bulk_http_scan_finds_no_real_name",
                 "tests/test_serving_safety.py", "tests/browser/test_anonymised.py::test_ccg_geography_scan",
                 "tests/test_hes_", "tests/test_dashboard_exports.py", "tests/test_dashboard_anonymise.py",
                 "tests/browser/test_anonymised.py::test_browser_subset", "tests/test_serving_browser.py",
                 "tests/test_dashboard_real.py", "tests/browser/", "tests/test_serving_")
"""Node-id prefixes of the longest groups, longest first: the workers take groups in collection order,
so the long ones start first and the short ones fill in at the end. Order only; every test runs."""


def pytest_collection_finish(session):
    """Once a worker has collected its tests: what is loaded now (the test modules and the libraries
    they import) stays to the end of the run, so garbage collection is settled as in the production
    server's workers (serving.gunicorn_app.settle_gc). It took about 7% of the workers' CPU."""
    from serving.gunicorn_app import settle_gc  # here, not at the top: the xdist controller collects nothing

    settle_gc()


def schedule_group(nodeid: str) -> str:
    """The group (one worker, in one go) of a test: its module; each test of a SPLIT_MODULES module on
    its own; every Spark test in one group "spark"."""
    nodeid = nodeid.split("@")[0]
    module = nodeid.split("::")[0]
    if module in SPARK_MODULES:
        return "spark"
    return nodeid if module in SPLIT_MODULES else module


def _rank(nodeid: str) -> int:
    return next((i for i, prefix in enumerate(LONGEST_FIRST) if nodeid.startswith(prefix)), len(LONGEST_FIRST))


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Longest groups first (a stable sort, so a group's tests keep their order); a Spark test outside
    SPARK_MODULES is an error, since it would start a second JVM on the other worker."""
    stray = [item.nodeid for item in items if "spark" in item.fixturenames
             and item.nodeid.split("::")[0] not in SPARK_MODULES]
    if stray:
        raise pytest.UsageError(f"tests use the spark fixture outside SPARK_MODULES (tests/conftest.py): {stray[:3]}")
    items.sort(key=lambda item: _rank(item.nodeid))


def pytest_xdist_make_scheduler(config, log):
    """``--dist loadgroup`` with the groups of `schedule_group`."""
    if config.getvalue("dist") != "loadgroup":
        return None
    class GroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return schedule_group(nodeid)

    return GroupScheduling(config, log)


@pytest.fixture(scope="session")
def real_dir() -> Path:
    """../shared/data/real: CI always has it beside the project, so its absence is a failure."""
    assert REAL.is_dir(), f"real data folder not found at {REAL}: clone the project beside ../shared"
    return REAL


def _run_folder(tmp_path_factory, name: str) -> Path:
    """A folder of this run shared by its xdist workers (each worker's own tmp folders lie beneath
    the run's), or of this session when there are no workers."""
    base = tmp_path_factory.getbasetemp()
    folder = (base.parent if "PYTEST_XDIST_WORKER" in os.environ else base) / name
    folder.mkdir(exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def served_cache_dir(tmp_path_factory) -> Path:
    """The results folder (PIONEERS_CACHE_DIR) of the servers the tests start on the demo dataset or a
    byte-identical copy: one for the run, as a deployment's gunicorn workers share one, so a page or
    workbook one server rendered is served by the others (analysis.cache keys hold the dataset checksum
    and the code version, so a copy that is changed never reads another's)."""
    return _run_folder(tmp_path_factory, "served-cache")


def _built_once(tmp_path_factory, name: str, build: Callable[[Path], object]) -> Path:
    """A dataset the tests read and never write, built once per run: under xdist the first worker to ask
    builds it in the run's own folder, under a lock, and the others wait for it and read the same files
    (one session's folder otherwise). Every test that changes a dataset works on a copy of its own."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        out = tmp_path_factory.mktemp(name) / "dataset"
        build(out)
        return out
    root = _run_folder(tmp_path_factory, name)
    with open(root / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, even if the build fails
        out = root / "dataset"
        if not (out / "manifest.json").exists():  # the manifest is written last
            build(out)
    return out


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory) -> Path:
    from data.demo import build_demo

    return _built_once(tmp_path_factory, "demo", lambda out: build_demo(out, seed=DEMO_SEED))


@pytest.fixture(scope="session")
def demo(demo_dir):
    from data.store import load_dataset

    return load_dataset(demo_dir)


@pytest.fixture(scope="session")
def _demo_estimates(demo):
    from analysis.estimates import estimates_table

    return estimates_table(demo)


@pytest.fixture
def demo_estimates(_demo_estimates):
    """The demo's estimates table (analysis.estimates.estimates_table, defaults), computed once per worker
    for the tests that read it; each test gets a copy of its own."""
    return _demo_estimates.copy()


@pytest.fixture
def memo_restored():
    """For a test that empties the caches on purpose (clear_all, clear_caches): the statistics this worker
    had computed before it are put back after it, so the tests after it do not compute them all again
    (about ten core-seconds a run). An entry's key names the code version, the dataset checksum and the
    arguments, so a restored entry is exactly what computing it again would give."""
    from analysis import cache

    with cache._memo_lock:
        kept = dict(cache._memo)
    yield
    with cache._memo_lock:
        for key, value in kept.items():
            cache._memo.setdefault(key, value)


@pytest.fixture(scope="session")
def reference():
    from data.reference import load_reference

    return load_reference()


@pytest.fixture(scope="session")
def browser():
    """The one headless Chromium (Debian's) for every browser test in the session."""
    from playwright.sync_api import sync_playwright

    from tests.browser_support import CHROMIUM, CHROMIUM_ARGS

    assert Path(CHROMIUM).exists(), f"{CHROMIUM} not found: install Debian's chromium (scripts/test.sh does)"
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture(scope="session")
def real_built_dir(real_dir, tmp_path_factory) -> Path:
    """The real dataset, built once per run from ../shared/data/real by data.real.build_real."""
    from data.real import build_real

    return _built_once(tmp_path_factory, "real-built", lambda out: build_real(out, shared=real_dir))


@pytest.fixture(scope="session")
def real_built(real_built_dir):
    from data.store import load_dataset

    return load_dataset(real_built_dir)


# Spark local mode for tests: the inputs are hand-worked fixtures of a few dozen rows, so the cost is
# the JVM warming up and planning, not data. One session for the whole run; one shuffle partition, no
# adaptive re-planning, interpreted expressions instead of generated code (two implementations of the
# same expressions, so the same counts), the JVM's quick compiler, and no bytecode verification of the
# classes of Spark's own jars (pip installed them; the JDK's own classes are never verified either): the
# session starts and its first build runs about 5 s sooner. Production keeps data.hes.engines.spark_engine's
# settings, made for real extracts.
SPARK_TEST_CONF = {"spark.sql.shuffle.partitions": "1", "spark.default.parallelism": "1",
                   "spark.sql.adaptive.enabled": "false", "spark.sql.codegen.wholeStage": "false",
                   "spark.sql.codegen.factoryMode": "NO_CODEGEN", "spark.ui.enabled": "false",
                   "spark.ui.showConsoleProgress": "false", "spark.sql.session.timeZone": "UTC",
                   "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC "
                                                    "-XX:+UnlockDiagnosticVMOptions -XX:-BytecodeVerificationRemote"}


@pytest.fixture(scope="session")
def spark():
    """A data.hes.engines Engine on one local Spark session shared by every Spark test."""
    from pyspark.sql import SparkSession

    from data.hes.engines import spark_engine

    builder = SparkSession.builder.master("local[2]").appName("pioneers-hes-tests")
    for key, value in SPARK_TEST_CONF.items():
        builder = builder.config(key, value)
    engine = spark_engine(builder.getOrCreate())
    yield engine
    engine.spark.stop()
