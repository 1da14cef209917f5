"""``pip install CHECKOUT`` into a fresh virtualenv gives a working
environment without ``make``: the start-up file comes with the wheel, so a
plain ``import lasagne`` script works, the idle-thread settings stay out of
other programs, the installed command runs a texture, and the custom ops'
C sources are package data.

The fresh virtualenv installs from PyPI (about a minute with pip's cache
warm); the package-data check builds the package only (seconds)."""
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT, sample

OLD_SCRIPT = """
import os
import lasagne
import numpy as np
import theano
import theano.tensor as T
x = T.matrix()
f = theano.function([x], T.dot(x, x.T))
a = np.arange(6, dtype=theano.config.floatX).reshape(2, 3)
print(float(abs(f(a) - a.dot(a.T)).max()))
print(os.environ.get("OMP_WAIT_POLICY"))
"""


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory):
    venv = str(tmp_path_factory.mktemp("venv") / "v")
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    python = os.path.join(venv, "bin", "python")
    proc = subprocess.run([python, "-m", "pip", "install", "--quiet", ROOT],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return venv


def _env():
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "OMP_WAIT_POLICY",
                        "OPENBLAS_THREAD_TIMEOUT")}
    return env


def test_the_wheel_carries_the_start_up_file(fresh_venv):
    python = os.path.join(fresh_venv, "bin", "python")
    proc = subprocess.run(
        [python, "-c", "import sysconfig, os; print(os.path.exists(os.path."
         "join(sysconfig.get_paths()['purelib'], "
         "'lasagne_style-startup.pth')))"], capture_output=True, text=True,
        env=_env(), cwd="/")
    assert proc.stdout.strip() == "True", proc.stderr


def test_a_plain_old_script_runs_and_keeps_its_environment(fresh_venv,
                                                           tmp_path):
    script = tmp_path / "old.py"
    script.write_text(OLD_SCRIPT)
    proc = subprocess.run([os.path.join(fresh_venv, "bin", "python"),
                           str(script)], capture_output=True, text=True,
                          env=_env(), cwd=str(tmp_path), timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    error, policy = proc.stdout.split()
    assert float(error) == 0.0
    # the start-up file gave Theano its fixes, and nothing to the
    # environment of a program that is not ours
    assert policy == "None"


def test_the_installed_command_runs_a_texture(fresh_venv, tmp_path):
    out = str(tmp_path / "t.png")
    proc = subprocess.run(
        [os.path.join(fresh_venv, "bin", "lasagne-style"), "texture",
         sample("cork.png"), "-o", out, "--size", "32", "--iters", "3",
         "--seed", "0"], capture_output=True, text=True, env=_env(),
        cwd=str(tmp_path), timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with Image.open(out) as im:
        assert im.size == (32, 32)
        pixels = np.asarray(im)
    assert pixels.std() > 1  # an image, not a blank


def test_the_ops_c_sources_are_package_data(tmp_path):
    # setup.py's build (what pip's wheel holds) carries every .c file the
    # ops read at import; the loader names a missing one
    from lasagne_style.ops import c_sources
    build = tmp_path / "build"
    proc = subprocess.run([sys.executable, "setup.py", "-q", "build_py",
                           "--build-lib", str(build)], capture_output=True,
                          text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    names = sorted(f for f in os.listdir(c_sources.C_DIR) if f.endswith(".c"))
    assert names
    built = build / "lasagne_style" / "ops" / "c"
    for name in names:
        assert (built / name).read_text() == open(
            os.path.join(c_sources.C_DIR, name)).read()
        assert c_sources.sections(name, directory=str(built))
    with pytest.raises(c_sources.MissingCSource, match="missing.c"):
        c_sources.sections("missing.c", directory=str(built))


def test_the_installed_ops_find_their_c_sources(fresh_venv):
    proc = subprocess.run(
        [os.path.join(fresh_venv, "bin", "python"), "-c",
         "import lasagne_style.ops.winograd, lasagne_style.ops.pooling"],
        capture_output=True, text=True, env=_env(), cwd="/")
    assert proc.returncode == 0, proc.stderr[-3000:]
