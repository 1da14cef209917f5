"""The numpy side of Winograd's F(m x m, 3x3) 'same' cross-correlation
(:mod:`.winograd` has the Theano ops and the layer); no Theano here.

- the transform matrices Bᵀ, G, Aᵀ of F(2x2, 3x3) (:data:`B_T`, :data:`G`,
  :data:`A_T`) and F(4x4, 3x3) (:data:`B_T4`, :data:`G4`, :data:`A_T4`),
  by tile size in :data:`TRANSFORMS`;
- the filter transform ``U = G g Gᵀ`` (:func:`transform_filters_m`), which
  the layers compute once, in float64, by a gemm on one BLAS thread (so
  that the filters are the same bits on any thread count), in the order
  of the fused op's products (:func:`kernel_filters`, inverse
  :func:`natural_filters`), and
  the transposed, flipped filters of the input gradient
  (:func:`adjoint_filters`);
- the unfused F(2x2, 3x3) input and output transforms and their adjoints
  (the ``perform`` of the unfused ops where there is no C);
- :func:`winograd_correlate`, the float64 reference of the fused op (and
  its ``perform`` for dtypes other than float32).

Shapes: images are (C, H, W); transformed tensors of the unfused path are
(16, C, tiles_h * tiles_w), the 16 in row-major order of the 4x4 tile, with
ceil(H/2) x ceil(W/2) tiles. Sizes that are not multiples of m are padded
with zeros and cropped.
"""
import numpy as np

#: F(2x2, 3x3) transforms: input (Bᵀ), filter (G), output (Aᵀ).
B_T = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]],
               np.float32)
G = np.array([[1, 0, 0], [.5, .5, .5], [.5, -.5, .5], [0, 0, 1]], np.float32)
A_T = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], np.float32)


#: (output, input) channel pairs per block of :func:`transform_filters_m`.
FILTER_BLOCK = 8192


def transform_filters(W):
    """U = G g Gᵀ for every (output, input) channel pair of the numpy filters
    ``W`` (C_out, C_in, 3, 3): float32 array (16, C_out, C_in)."""
    return transform_filters_m(W, 2)


def _tiles(height, width):
    return (height + 1) // 2, (width + 1) // 2


def _by_b_t(parts, out):
    """out[i] = sum_k B_T[i, k] parts[k] (4 views in, 4 arrays out)."""
    np.subtract(parts[0], parts[2], out=out[0])
    np.add(parts[1], parts[2], out=out[1])
    np.subtract(parts[2], parts[1], out=out[2])
    np.subtract(parts[1], parts[3], out=out[3])


def _add_by_b(grads, parts):
    """parts[k] += sum_i B_T[i, k] grads[i]: the adjoint of :func:`_by_b_t`
    (``parts`` are overlapping views, so they are accumulated one by one)."""
    parts[0] += grads[0]
    parts[1] += grads[1]
    parts[1] -= grads[2]
    parts[1] += grads[3]
    parts[2] -= grads[0]
    parts[2] += grads[1]
    parts[2] += grads[2]
    parts[3] -= grads[3]


def input_transform(x):
    """Bᵀ d B of every 4x4 tile (stride 2) of ``x`` (C, H, W) padded by 1:
    (16, C, tiles)."""
    channels, height, width = x.shape
    tiles_h, tiles_w = _tiles(height, width)
    padded = np.zeros((channels, 2 * tiles_h + 2, 2 * tiles_w + 2), x.dtype)
    padded[:, 1:height + 1, 1:width + 1] = x
    rows = np.empty((4, channels, tiles_h, 2 * tiles_w + 2), x.dtype)
    _by_b_t([padded[:, a:a + 2 * tiles_h:2] for a in range(4)], rows)
    V = np.empty((4, 4, channels, tiles_h, tiles_w), x.dtype)
    for a in range(4):
        _by_b_t([rows[a][:, :, b:b + 2 * tiles_w:2] for b in range(4)], V[a])
    return V.reshape(16, channels, tiles_h * tiles_w)


def input_transform_adjoint(gV, height, width):
    """Gradient of :func:`input_transform` w.r.t. ``x``: (C, H, W)."""
    channels = gV.shape[1]
    tiles_h, tiles_w = _tiles(height, width)
    gV = gV.reshape(4, 4, channels, tiles_h, tiles_w)
    g_rows = np.zeros((4, channels, tiles_h, 2 * tiles_w + 2), gV.dtype)
    for a in range(4):
        _add_by_b(gV[a], [g_rows[a][:, :, b:b + 2 * tiles_w:2]
                          for b in range(4)])
    g_padded = np.zeros((channels, 2 * tiles_h + 2, 2 * tiles_w + 2),
                        gV.dtype)
    _add_by_b(g_rows, [g_padded[:, a:a + 2 * tiles_h:2] for a in range(4)])
    return np.ascontiguousarray(g_padded[:, 1:height + 1, 1:width + 1])


def output_transform(M, height, width):
    """Aᵀ m A of every transformed tile ``M`` (16, C, tiles), each 2x2 result
    put in place: (C, H, W)."""
    channels = M.shape[1]
    tiles_h, tiles_w = _tiles(height, width)
    m = M.reshape(4, 4, channels, tiles_h, tiles_w)
    s = np.empty((2, 4, channels, tiles_h, tiles_w), M.dtype)
    np.add(m[0], m[1], out=s[0])
    s[0] += m[2]
    np.subtract(m[1], m[2], out=s[1])
    s[1] -= m[3]
    out = np.empty((channels, tiles_h, 2, tiles_w, 2), M.dtype)
    for i in range(2):
        left, right = out[:, :, i, :, 0], out[:, :, i, :, 1]
        np.add(s[i, 0], s[i, 1], out=left)
        left += s[i, 2]
        np.subtract(s[i, 1], s[i, 2], out=right)
        right -= s[i, 3]
    out = out.reshape(channels, 2 * tiles_h, 2 * tiles_w)
    return np.ascontiguousarray(out[:, :height, :width])


def output_transform_adjoint(gY):
    """Gradient of :func:`output_transform` w.r.t. ``M``: (16, C, tiles)."""
    channels, height, width = gY.shape
    tiles_h, tiles_w = _tiles(height, width)
    g = np.zeros((channels, tiles_h, 2, tiles_w, 2), gY.dtype)
    g.reshape(channels, 2 * tiles_h, 2 * tiles_w)[:, :height, :width] = gY
    gs = np.empty((2, 4, channels, tiles_h, tiles_w), gY.dtype)
    for i in range(2):
        left, right = g[:, :, i, :, 0], g[:, :, i, :, 1]
        gs[i, 0] = left
        np.add(left, right, out=gs[i, 1])
        np.subtract(left, right, out=gs[i, 2])
        np.negative(right, out=gs[i, 3])
    gM = np.empty((4, 4, channels, tiles_h, tiles_w), gY.dtype)
    gM[0] = gs[0]
    np.add(gs[0], gs[1], out=gM[1])
    np.subtract(gs[0], gs[1], out=gM[2])
    np.negative(gs[1], out=gM[3])
    return gM.reshape(16, channels, tiles_h * tiles_w)


#: F(4x4, 3x3) transforms (Lavin and Gray 2016, interpolation points 0, +-1,
#: +-2 and infinity): input (Bᵀ), filter (G), output (Aᵀ).
B_T4 = np.array([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0],
                 [0, 4, -4, -1, 1, 0], [0, -2, -1, 2, 1, 0],
                 [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]], np.float64)
G4 = np.array([[1 / 4., 0, 0], [-1 / 6., -1 / 6., -1 / 6.],
               [-1 / 6., 1 / 6., -1 / 6.], [1 / 24., 1 / 12., 1 / 6.],
               [1 / 24., -1 / 12., 1 / 6.], [0, 0, 1]], np.float64)
A_T4 = np.array([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0],
                 [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]], np.float64)

#: Transforms (Bᵀ, G, Aᵀ) by output tile size m of F(m x m, 3x3).
TRANSFORMS = {2: (B_T.astype(np.float64), G.astype(np.float64),
                  A_T.astype(np.float64)),
              4: (B_T4, G4, A_T4)}


def transform_filters_m(W, m, out=None):
    """U = G g Gᵀ of F(m x m, 3x3) for every (output, input) channel pair of
    ``W`` (C_out, C_in, 3, 3): float32 (alpha², C_out, C_in), alpha = m + 2,
    computed in float64; written into ``out`` if given (float32, C order)."""
    from threadpoolctl import threadpool_limits

    G_m = TRANSFORMS[m][1]
    W = np.asarray(W)
    kron = np.kron(G_m, G_m)
    flat = W.transpose(2, 3, 0, 1).reshape(9, -1).astype(np.float64)
    if out is None:
        out = np.empty((kron.shape[0],) + W.shape[:2], np.float32)
    U = out.reshape(kron.shape[0], flat.shape[1])
    # U[a*alpha + b] = sum_kl (G ⊗ G)[a*alpha + b, 3k + l] W[kl]: one gemm
    # per block of FILTER_BLOCK pairs (float64 temporaries that stay in the
    # cache), on one BLAS thread: a threaded gemm rounds differently on
    # other thread counts, and the float32 filters, so every result, would
    # depend on OPENBLAS_NUM_THREADS. A gemm rather than numpy's einsum
    # loops: faster, and it lets go of the GIL, so the transforms can run
    # while Theano compiles (measurements: docs/performance.md).
    with threadpool_limits(1, "blas"):
        for start in range(0, flat.shape[1], FILTER_BLOCK):
            U[:, start:start + FILTER_BLOCK] = np.matmul(
                kron, flat[:, start:start + FILTER_BLOCK])
    return out


#: Output channels per panel of the fused op's filters (its C's WG_COLS).
PANEL_COLUMNS = 6


def panel_positions(C_out, C_in):
    """Where each (output, input) channel pair goes in the fused op's
    layout of filters: an int array (C_out, C_in) of flat positions. The
    output channels are cut into panels of :data:`PANEL_COLUMNS` (the last
    one narrower); panel ``j..j+w-1`` starts at ``j * C_in`` and holds, for
    each input channel ``c``, its ``w`` values in a row:
    ``position(o, c) = j C_in + c w + (o - j)``."""
    out = np.arange(C_out)[:, None]
    start = out // PANEL_COLUMNS * PANEL_COLUMNS
    width = np.minimum(PANEL_COLUMNS, C_out - start)
    return start * C_in + np.arange(C_in)[None, :] * width + (out - start)


def kernel_filters(W, m, out=None):
    """:func:`transform_filters_m` (W, m) in the layout the fused op's
    products read (:func:`panel_positions`), same shape: the channel pairs
    of ``W`` are put in that order first, so the transform writes them
    there at no extra cost."""
    W = np.asarray(W)
    pairs = W.shape[0] * W.shape[1]
    ordered = np.empty_like(W).reshape(pairs, 9)
    ordered[panel_positions(*W.shape[:2]).ravel()] = W.reshape(pairs, 9)
    return transform_filters_m(ordered.reshape(W.shape), m, out)


def natural_filters(U):
    """The inverse of :func:`kernel_filters`' ordering: ``U`` (alpha²,
    C_out, C_in) in the fused op's layout, back in the order of
    :func:`transform_filters_m`."""
    U = np.asarray(U)
    flat = U.reshape(U.shape[0], -1)
    return flat[:, panel_positions(*U.shape[1:])]


def adjoint_filters(W):
    """Filters of the adjoint of a 3x3 'same' cross-correlation: the
    gradient of ``y = x ⋆ W`` w.r.t. ``x`` is ``gy ⋆ W'`` with
    ``W'[i, o, k, l] = W[o, i, 2 - k, 2 - l]`` (transposed and flipped)."""
    W = np.asarray(W)
    return np.ascontiguousarray(W[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))


def winograd_correlate(x, U, m, bias=None, relu=False, mask=None):
    """numpy F(m x m, 3x3) 'same' cross-correlation of ``x`` (C_in, H, W)
    with filters transformed by :func:`transform_filters_m`: tiles of
    ``x`` padded by 1 (and by zeros to whole tiles), V = Bᵀ d B, M = U V
    summed over input channels, Y = Aᵀ M A cropped; then ``+ bias`` and
    ``max(., 0)`` if asked. ``mask``: ``x`` is first zeroed where
    ``mask <= 0``. The reference of the fused C op, computed in float64."""
    B_T_m, _, A_T_m = TRANSFORMS[m]
    a = m + 2
    x = np.asarray(x, np.float64)
    if mask is not None:
        x = np.where(np.asarray(mask) > 0, x, 0.)
    channels, height, width = x.shape
    th, tw = -(-height // m), -(-width // m)
    padded = np.zeros((channels, m * th + 2, m * tw + 2))
    padded[:, 1:height + 1, 1:width + 1] = x
    s = padded.strides
    tiles = np.lib.stride_tricks.as_strided(
        padded, (channels, th, tw, a, a), (s[0], m * s[1], m * s[2]) + s[1:])
    V = np.einsum("ik,cpqkl,jl->ijcpq", B_T_m, tiles, B_T_m)
    U = np.asarray(U, np.float64).reshape(a, a, U.shape[1], U.shape[2])
    M = np.einsum("ijoc,ijcpq->ijopq", U, V)
    Y = np.einsum("ri,ijopq,sj->oprqs", A_T_m, M, A_T_m)
    Y = Y.reshape(-1, m * th, m * tw)[:, :height, :width]
    if bias is not None:
        Y = Y + np.asarray(bias, np.float64)[:, None, None]
    if relu:
        Y = np.maximum(Y, 0)
    return Y
