"""The Python API's arguments: lists, numpy numbers and bytes paths are
taken; each bad argument gets one clear UserError before anything is
compiled."""
import os

import numpy as np
import pytest

from conftest import sample
from lasagne_style import api, images
from lasagne_style.errors import UserError


@pytest.mark.parametrize("call,message", [
    (lambda: api.stylize(np.zeros((0, 0, 3), np.uint8), sample("cork.png")),
     "content image is empty"),
    (lambda: api.synthesize([]), "no style image"),
    (lambda: api.synthesize(sample("cork.png"), style_layers=["conv9_9"]),
     "unknown layer"),
    (lambda: api.synthesize(b"/nonexistent.png"), "image not found"),
    (lambda: api.synthesize(np.zeros((8, 8), np.uint8)),
     "RGB uint8 array of shape (H, W, 3)"),
    (lambda: api.synthesize(sample("cork.png"), style_weight="1"),
     "finite number"),
])
def test_api_arguments_get_one_clear_error(call, message, no_compiling):
    with pytest.raises(UserError) as info:
        call()
    assert message in str(info.value)


def test_api_takes_lists_numpy_numbers_and_bytes_paths(tmp_path):
    out = tmp_path / "t.png"
    result = api.synthesize(os.fsencode(sample("cork.png")), size=32,
                            iters=2, seed=0, style_layers=["conv1_1"],
                            style_weight=np.float32(1e5),
                            tv_weight=np.float64(0), progress=False,
                            output=str(out))
    assert result.config.style_layers == ("conv1_1",)
    assert result.config.style_weight == 1e5
    assert images.load_image(str(out)).shape == (32, 32, 3)
