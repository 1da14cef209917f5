"""Same seed, same options: the same bytes on one BLAS/OpenMP thread or two.

Each run is its own process (thread counts are read when the libraries
load). Before the filter transform left BLAS
(ops.winograd_reference.transform_filters_m), a 64 px texture's gradient
differed from its second evaluation on.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, sample
from lasagne_style import images

RUNS = {
    "texture": ["texture", sample("cork.png"), "--size", "64"],
    "transfer": ["transfer", sample("grace_hopper.jpg"),
                 sample("night_cafe.jpg"), "--size", "72", "--init",
                 "noise"],
}


def run(argv, threads, output):
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads),
               OMP_NUM_THREADS=str(threads))
    subprocess.run([sys.executable, "-m", "lasagne_style.cli"] + argv
                   + ["--iters", "25", "--seed", "2", "--quiet", "-o", output],
                   cwd=ROOT, env=env, check=True, timeout=600)
    return images.load_image(output)


@pytest.mark.parametrize("kind", sorted(RUNS))
def test_one_thread_and_two_give_the_same_image(kind, tmp_path):
    one, two = (run(RUNS[kind], n, str(tmp_path / ("%d.png" % n)))
                for n in (1, 2))
    np.testing.assert_array_equal(one, two)
