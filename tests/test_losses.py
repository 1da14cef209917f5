"""Loss terms and the compiled objective against numpy and finite
differences."""
import numpy as np
import pytest

import reference
from lasagne_style import api, images, losses
from conftest import compiled_objective
from lasagne_style.config import LossConfig, preset
from lasagne_style.errors import UserError


def compile_f64(build):
    import theano
    import theano.tensor as T
    a = T.TensorType("float64", (False,) * 4)("a")
    b = T.TensorType("float64", (False,) * 4)("b")
    return theano.function([a, b], build(a, b), on_unused_input="ignore")


@pytest.mark.parametrize("normalize", [False, True])
def test_content_loss(rng, normalize):
    F, P = rng.randn(1, 5, 4, 3), rng.randn(1, 5, 4, 3)
    f = compile_f64(lambda a, b: losses.content_loss(a, b, normalize))
    expected = 0.5 * np.sum((F - P) ** 2) / (F.size if normalize else 1)
    assert f(F, P) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("normalize", [False, True])
def test_total_variation(rng, normalize):
    X = rng.randn(1, 3, 7, 6) * 20
    f = compile_f64(lambda a, b: losses.total_variation(a, normalize))
    expected = reference.total_variation(X[0]) / (42 if normalize else 1)
    assert f(X, X) == pytest.approx(expected, rel=1e-6)


def small_objective(config, rng, size=(32, 40)):
    objective = compiled_objective(config)
    shape = (1, 3) + size
    content = rng.uniform(-100, 100, shape).astype(np.float32)
    style = rng.uniform(-100, 100, (1, 3, 48, 48)).astype(np.float32)
    objective.set_targets(shape, content if config.uses_content else None,
                          objective.style_target([style]))
    return objective, shape


@pytest.mark.parametrize("name", ["default", "recipe"])
def test_gradient_matches_finite_differences(rng, name):
    objective, shape = small_objective(preset(name), rng)
    x = rng.uniform(-100, 100, shape).astype(np.float32)
    _, _, grad = objective(x)
    for _ in range(3):
        d = rng.randn(*shape).astype(np.float32)
        d /= np.linalg.norm(d)
        h = 1.0  # pixels span 255 units; float32 needs a sizeable step
        numeric = (objective(x + h * d)[0] - objective(x - h * d)[0]) / (2 * h)
        analytic = float(np.sum(grad.astype(np.float64) * d))
        assert numeric == pytest.approx(analytic, rel=2e-2,
                                        abs=1e-3 * np.linalg.norm(grad))


def test_score_agrees_with_numpy_recipe_losses(params, rng):
    image, content, style = (rng.randint(0, 256, (32, 32, 3)).astype(np.uint8)
                             for _ in range(3))
    ours = api.score(image, style, content=content, preset="recipe")
    expected = reference.recipe_losses(image, content, style, params)
    for term in ("content", "style", "tv", "total"):
        assert ours[term] == pytest.approx(expected[term], rel=1e-3), term


def test_terms_sum_to_total_and_weights_apply_without_recompiling(rng):
    config = preset("default")
    objective, shape = small_objective(config, rng)
    x = rng.uniform(-100, 100, shape).astype(np.float32)
    total, terms, _ = objective(x)
    assert total == pytest.approx(sum(terms.values()), rel=1e-5)
    doubled = config.replace(style_weight=2 * config.style_weight)
    assert compiled_objective(doubled) is objective
    total2, terms2, _ = objective(x)
    assert terms2["style"] == pytest.approx(2 * terms["style"], rel=1e-5)
    assert terms2["content"] == pytest.approx(terms["content"], rel=1e-6)


def test_normalized_terms_do_not_grow_with_size(params):
    # The same photo and painting at two sizes: with the default preset the
    # ratio content/style stays put; with the recipe's it grows with pixels.
    from conftest import sample
    photo = images.load_image(sample("grace_hopper.jpg"))
    painting = images.load_image(sample("night_cafe.jpg"))
    ratios, positions = {}, {}
    for name in ("default", "recipe"):
        for size in (64, 128):
            shape = images.fit_size(photo.shape, size)
            positions[size] = (shape[0] // 8) * (shape[1] // 8)  # conv4_2
            x = images.resize(painting, shape)
            terms = api.score(x, painting, content=photo, preset=name)
            ratios[name, size] = terms["content"] / terms["style"]
    growth_default = ratios["default", 128] / ratios["default", 64]
    growth_recipe = ratios["recipe", 128] / ratios["recipe", 64]
    assert 0.5 < growth_default < 2.0
    # the recipe's content term is a sum over conv4_2's N x M elements
    assert growth_recipe == pytest.approx(
        growth_default * positions[128] / positions[64], rel=1e-3)


def test_config_validation():
    with pytest.raises(UserError, match="content weight"):
        preset("default", content_weight=float("nan"))
    with pytest.raises(UserError, match="unknown preset"):
        preset("fancy")
    with pytest.raises(UserError, match="unknown layer"):
        LossConfig(1, 1, 1, True, style_layers=("conv9_9",))
