"""Independent numpy implementations the tests compare against: VGG19's
forward pass and the recipe's losses, in float64, written from the
definitions rather than from the package's code."""
import numpy as np

MEAN_BGR = np.array([104.0, 117.0, 123.0])
BLOCKS = (2, 2, 4, 4, 4)  # conv layers per block


def cross_correlate(x, W, b, mode="constant"):
    """x (C, H, W), W (O, C, 3, 3): 3x3 'same' cross-correlation of x padded
    by 1 with zeros, or (``mode='wrap'``) of its periodic extension."""
    C, H, Wd = x.shape
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1)), mode=mode)
    out = np.zeros((W.shape[0], H, Wd))
    for i in range(3):
        for j in range(3):
            out += np.einsum("oc,chw->ohw", W[:, :, i, j],
                             padded[:, i:i + H, j:j + Wd])
    return out + b[:, None, None]


def average_pool(x):
    C, H, W = x.shape
    h, w = H // 2, W // 2
    return x[:, :2 * h, :2 * w].reshape(C, h, 2, w, 2).mean(axis=(2, 4))


def vgg_features(rgb, params, wanted):
    """Feature maps (C, H, W) of the named layers for an RGB uint8 image."""
    x = (rgb[:, :, ::-1].astype(np.float64) - MEAN_BGR).transpose(2, 0, 1)
    out, k = {}, 0
    for block, n in enumerate(BLOCKS, start=1):
        for i in range(1, n + 1):
            W, b = params[k]
            k += 1
            x = np.maximum(cross_correlate(x, W.astype(np.float64),
                                           b.astype(np.float64)), 0)
            name = "conv%d_%d" % (block, i)
            if name in wanted:
                out[name] = x
            if len(out) == len(wanted):
                return out
        x = average_pool(x)
    return out


def gram(F):
    F = F.reshape(F.shape[0], -1)
    return F @ F.T


def recipe_losses(image, content, style, params, content_layer="conv4_2",
                  style_layers=("conv1_1", "conv2_1", "conv3_1", "conv4_1",
                                "conv5_1")):
    """The recipe's weighted losses (all images the same size)."""
    layers = set(style_layers) | {content_layer}
    fx = vgg_features(image, params, layers)
    fc = vgg_features(content, params, {content_layer})
    fs = vgg_features(style, params, set(style_layers))
    content_term = 0.001 * 0.5 * np.sum((fx[content_layer]
                                         - fc[content_layer]) ** 2)
    style_term = 0.0
    for name in style_layers:
        N = fx[name].shape[0]
        M = fx[name].shape[1] * fx[name].shape[2]
        style_term += 0.2e6 * np.sum((gram(fx[name]) - gram(fs[name])) ** 2) \
            / (4.0 * N ** 2 * M ** 2)
    x = image[:, :, ::-1].astype(np.float64).transpose(2, 0, 1)
    tv = 1e-8 * total_variation(x)
    return {"content": content_term, "style": style_term, "tv": tv,
            "total": content_term + style_term + tv}


def total_variation(x):
    """x (C, H, W): sum over (H-1)(W-1) corners of (dx^2 + dy^2)^1.25."""
    dy = x[:, 1:, :-1] - x[:, :-1, :-1]
    dx = x[:, :-1, 1:] - x[:, :-1, :-1]
    return np.sum((dx ** 2 + dy ** 2) ** 1.25)
