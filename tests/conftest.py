"""Shared fixtures: one demo dataset per test session, and the path to the real files."""
from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "real"
DEMO_SEED = 2013


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Groups for pytest-xdist's ``--dist loadgroup`` (scripts/test.sh runs two workers): the tests of a
    module stay on one worker, so a module's fixtures are built once; the browser tests that use the
    demo server (tests/browser/conftest.py) stay together, so one server and its warm caches serve them all;
    the tests on Spark stay together, so one JVM serves them."""
    for item in items:
        group = ("demo-server" if "server" in item.fixturenames else "spark" if "spark" in item.fixturenames
                 else item.nodeid.split("::")[0])
        item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(scope="session")
def real_dir() -> Path:
    """../shared/data/real: CI always has it beside the project, so its absence is a failure."""
    assert REAL.is_dir(), f"real data folder not found at {REAL}: clone the project beside ../shared"
    return REAL


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory) -> Path:
    from data.demo import build_demo

    out = tmp_path_factory.mktemp("demo") / "dataset"
    build_demo(out, seed=DEMO_SEED)
    return out


@pytest.fixture(scope="session")
def demo(demo_dir):
    from data.store import load_dataset

    return load_dataset(demo_dir)


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
    """The real dataset, built once per session from ../shared/data/real by data.real.build_real."""
    from data.real import build_real

    out = tmp_path_factory.mktemp("real-built") / "dataset"
    build_real(out, shared=real_dir)
    return out


@pytest.fixture(scope="session")
def real_built(real_built_dir):
    from data.store import load_dataset

    return load_dataset(real_built_dir)


# Spark local mode for tests: the inputs are hand-worked fixtures of a few dozen rows, so the cost is
# the JVM warming up and planning, not data. One session for the whole run; one shuffle partition, no
# adaptive re-planning, interpreted expressions instead of generated code (two implementations of the
# same expressions, so the same counts) and the JVM's quick compiler. Production keeps data.hes.engines.spark_engine's
# settings, made for real extracts.
SPARK_TEST_CONF = {"spark.sql.shuffle.partitions": "1", "spark.default.parallelism": "1",
                   "spark.sql.adaptive.enabled": "false", "spark.sql.codegen.wholeStage": "false",
                   "spark.sql.codegen.factoryMode": "NO_CODEGEN", "spark.ui.enabled": "false",
                   "spark.ui.showConsoleProgress": "false", "spark.sql.session.timeZone": "UTC",
                   "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"}


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
