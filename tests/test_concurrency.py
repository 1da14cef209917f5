"""API calls from several threads give the results they give one at a
time (they share the process's compiled objectives, so they run one at a
time)."""
import threading

import numpy as np

from conftest import sample
from lasagne_style import api


def test_two_threads_get_their_own_results():
    args = dict(size=40, iters=6, progress=False, statistic="mean",
                style_layers=["conv1_1", "conv2_1"])
    styles = [sample("cork.png"), sample("brick_wall.png")]
    serial = [api.synthesize(s, seed=i, **args).image
              for i, s in enumerate(styles)]
    results, errors = [None, None], []

    def run(i):
        try:
            results[i] = api.synthesize(styles[i], seed=i, **args).image
        except Exception as e:  # reported below, with the other thread's
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for got, expected in zip(results, serial):
        np.testing.assert_array_equal(got, expected)
