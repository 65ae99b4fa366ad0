"""examples/sweep_ray.py on a local Ray instance: a 4-trial sweep of a few epochs, each
trial an Ensemble of 2 seeds, reporting per-epoch metrics and pat.save checkpoints.
Skipped only when ray is not installed; CI installs it and sets PYAUTOTAPE_REQUIRE_OPTIONAL=1,
under which that skip fails instead (tests/conftest.py)."""

import importlib.util
import os
import pathlib

import pytest

ray = pytest.importorskip("ray")
tune = pytest.importorskip("ray.tune")

import pyautotape as pat  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def _example():
    spec = importlib.util.spec_from_file_location("sweep_ray", EXAMPLES / "sweep_ray.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ray_tune_sweep_of_ensembles(tmp_path):
    sweep_ray = _example()
    path = os.pathsep.join([str(ROOT), str(EXAMPLES), os.environ.get("PYTHONPATH", "")])
    ray.init(num_cpus=2, include_dashboard=False, runtime_env={"env_vars": {"PYTHONPATH": path}},
             log_to_driver=False)
    try:
        space = {
            "lr": tune.grid_search([1e-3, 5e-3]),
            "hidden": tune.grid_search([[32], [64]]),
            "weight_decay": 1e-4,
            "epochs": 3,
            "seeds": 2,
        }
        results = sweep_ray.sweep(num_samples=1, storage_path=str(tmp_path), param_space=space)
    finally:
        ray.shutdown()
    assert len(results) == 4 and not results.errors, results.errors
    best = results.get_best_result()
    assert best.metrics["epoch"] == 3
    assert best.metrics["accuracy"] > 0.85, best.metrics
    assert len(best.metrics_dataframe) == 3  # one report per epoch
    with best.checkpoint.as_directory() as d:
        state = pat.load(os.path.join(d, "state.pat"))
    assert state["epoch"] == 3
    w = state["model"]["layers.0.weight"]
    assert w.shape == (2, best.config["hidden"][0], 64)  # 2 seeds stacked
