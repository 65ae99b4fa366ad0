"""Shared fixtures: a seeded generator, and the default dtype / subgradient restored after
every test so tests cannot leak settings into each other."""

import numpy as np
import pytest

import pyautotape as pat


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(autouse=True)
def _restore_settings():
    dtype, sub = pat.get_default_dtype(), pat.get_relu_subgradient()
    yield
    pat.set_default_dtype(dtype)
    pat.set_relu_subgradient(sub)
