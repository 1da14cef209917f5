import csv
import os
import sys
import time

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


#: CLI options of a tiny run: 32 px, 3 evaluations of one conv layer.
TINY_ARGS = ["--size", "32", "--iters", "3", "--style-layers", "conv1_1",
             "--seed", "0", "-q"]


def run_main(argv, capsys):
    """``cli.main(argv)`` in this process: (exit code, stdout, stderr)."""
    from lasagne_style import cli
    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def alive(pid):
    """Whether process ``pid`` exists and is not a zombie (from /proc)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def descendants(pid, depth=None):
    """Processes below ``pid`` (from /proc): its children, theirs and so on,
    or only ``depth`` generations of them (1: its children)."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as f:
                    parents[int(entry)] = int(
                        f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
    found, generation = [], [pid]
    while generation and depth != 0:
        generation = [p for p, pp in parents.items() if pp in generation]
        found += generation
        depth = None if depth is None else depth - 1
    return found


def wait_until(condition, proc, timeout, what, interval=0.2):
    """Poll until ``condition()`` holds while ``proc`` (a Popen) runs, so that
    a test can signal it at a known point of its work: fails with the
    process's output if it exits first, or with ``what`` after ``timeout``
    seconds."""
    deadline = time.time() + timeout
    while not condition():
        assert proc.poll() is None, proc.communicate()
        assert time.time() < deadline, what
        time.sleep(interval)


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
