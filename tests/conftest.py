"""Shared fixtures: a seeded generator, and the default dtype / subgradient restored after
every test so tests cannot leak settings into each other.

Hypothesis profiles (select with ``--hypothesis-profile NAME``):

* ``ci`` (the default): 200 examples per property, no deadline (the sanitizer job runs
  the same tests several times slower).
* ``intense``: 10 000 examples per property; the boundary fuzzing in test_fuzz.py is run
  with it under the sanitizer build (see docs/reliability.md).

The sanitizer job (scripts/sanitize.sh) sets ``PYAUTOTAPE_SANITIZED=1``: the session then
refuses to start unless the extension really was built with AddressSanitizer, and tests
marked ``asan_slow`` (pure soak/timing-heavy ones) are skipped there.

``.ci/run`` sets ``PYAUTOTAPE_REQUIRE_OPTIONAL=1`` for its main run, where torch,
matplotlib, graphviz and ray are installed: a test skipped because one of them cannot be
imported (``pytest.importorskip``: the PyTorch parity tests, the plot tests, the Ray sweep) then fails
instead, so CI cannot pass with those tests silently not run.
"""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import pyautotape as pat

SANITIZED = os.environ.get("PYAUTOTAPE_SANITIZED") == "1"
REQUIRE_OPTIONAL = os.environ.get("PYAUTOTAPE_REQUIRE_OPTIONAL") == "1"

_relaxed = [HealthCheck.too_slow, HealthCheck.data_too_large]
settings.register_profile("ci", max_examples=200, deadline=None, suppress_health_check=_relaxed)
settings.register_profile(
    "intense", max_examples=10_000, deadline=None, suppress_health_check=_relaxed
)
settings.load_profile(os.environ.get("PYAUTOTAPE_HYPOTHESIS_PROFILE", "ci"))


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "asan_slow: skipped in the sanitizer job (PYAUTOTAPE_SANITIZED=1)"
    )
    if SANITIZED:
        flags = pat._ffi.build_info().get("flags", "")
        if "-fsanitize=address" not in flags:
            raise pytest.UsageError(
                "PYAUTOTAPE_SANITIZED=1 but pyautotape's extension was built without "
                f"-fsanitize=address (flags: {flags}); run scripts/sanitize.sh"
            )


def pytest_collection_modifyitems(config, items):
    if not SANITIZED:
        return
    skip = pytest.mark.skip(reason="too slow under AddressSanitizer; runs in the normal job")
    for item in items:
        if "asan_slow" in item.keywords:
            item.add_marker(skip)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if REQUIRE_OPTIONAL and report.skipped and isinstance(report.longrepr, tuple):
        reason = str(report.longrepr[2])
        if "could not import" in reason:
            report.outcome = "failed"
            report.longrepr = (f"PYAUTOTAPE_REQUIRE_OPTIONAL=1: {item.nodeid} was skipped "
                               f"({reason}); install what it needs (see .ci/run)")


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    report = outcome.get_result()
    if REQUIRE_OPTIONAL and report.skipped and "could not import" in str(report.longrepr):
        report.outcome = "failed"
        report.longrepr = (f"PYAUTOTAPE_REQUIRE_OPTIONAL=1: {collector.nodeid} was skipped "
                           f"({report.longrepr}); install what it needs (see .ci/run)")


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(autouse=True)
def _restore_settings():
    dtype, sub = pat.get_default_dtype(), pat.get_relu_subgradient()
    yield
    pat.set_default_dtype(dtype)
    pat.set_relu_subgradient(sub)
