import csv
import os
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SAMPLES = os.path.join(ROOT, "samples")
sys.path.insert(0, HERE)  # for `reference`

import lasagne_style.compat  # noqa: E402

lasagne_style.compat.apply()


@pytest.fixture(scope="session")
def params():
    from lasagne_style.api import load_weights
    return load_weights()


@pytest.fixture
def rng():
    return np.random.RandomState(0)


def sample(name):
    return os.path.join(SAMPLES, name)


def compiled_objective(config, **kwargs):
    """The process's compiled objective for ``config`` (default weights)."""
    from lasagne_style import objective
    from lasagne_style.vgg_weights import load_cached
    return objective.compiled(config, load_cached(), **kwargs)


def alive(pid):
    """Whether process ``pid`` exists and is not a zombie (from /proc)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def write_csv(path, rows):
    """A batch manifest: a CSV file with one column per key of ``rows``."""
    keys = sorted({k for row in rows for k in row})
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, keys)
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture
def no_compiling(monkeypatch):
    """Fail the test if anything gets as far as compiling an objective
    (checks that must run before any Theano work)."""
    from lasagne_style import objective

    def refuse(*args, **kwargs):
        raise AssertionError("compiled before the check")
    monkeypatch.setattr(objective, "compiled", refuse)
