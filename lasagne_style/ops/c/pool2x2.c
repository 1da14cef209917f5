/* The C code of lasagne_style.ops.pooling's ops (sections: see
   c_sources.py). Both sections are templates of an op's c_code: %(x)s,
   %(gy)s its inputs, %(z)s its output, %(fail)s Theano's failure,
   %(output)s the shared reuse_output snippet (common.c) for dims, and
   %(parallel)d the fewest values (N C H W) for which the N x C planes are
   shared among OpenMP threads (below it waking them costs more than they
   save). One output row pair per inner loop. */

/* @section pool */
{
PyArrayObject* in_arr = PyArray_GETCONTIGUOUS(%(x)s);
if (!in_arr) { %(fail)s; }
const npy_intp* s = PyArray_DIMS(in_arr);
const npy_intp H = s[2], W = s[3], h = H / 2, w = W / 2;
npy_intp dims[4] = {s[0], s[1], h, w};
%(output)s
const float* in = (const float*)PyArray_DATA(in_arr);
float* out = (float*)PyArray_DATA(%(z)s);
const npy_intp planes = s[0] * s[1];
#pragma omp parallel for if (planes * H * W >= %(parallel)d)
for (npy_intp p = 0; p < planes; ++p) {
    for (npy_intp i = 0; i < h; ++i) {
        const float* r0 = in + (p * H + 2 * i) * W;
        const float* r1 = r0 + W;
        float* o = out + (p * h + i) * w;
        for (npy_intp j = 0; j < w; ++j)
            o[j] = 0.25f * ((r0[2 * j] + r0[2 * j + 1])
                            + (r1[2 * j] + r1[2 * j + 1]));
    }
}
Py_DECREF(in_arr);
}

/* @section pool_grad */
{
PyArrayObject* g_arr = PyArray_GETCONTIGUOUS(%(gy)s);
if (!g_arr) { %(fail)s; }
const npy_intp* s = PyArray_DIMS(%(x)s);
const npy_intp H = s[2], W = s[3], h = H / 2, w = W / 2;
const npy_intp* gs = PyArray_DIMS(g_arr);
if (gs[0] != s[0] || gs[1] != s[1] || gs[2] != h || gs[3] != w) {
    PyErr_SetString(PyExc_ValueError,
                    "AveragePool2x2Grad: gradient of wrong shape");
    Py_DECREF(g_arr); %(fail)s;
}
npy_intp dims[4] = {s[0], s[1], H, W};
%(output)s
const float* g = (const float*)PyArray_DATA(g_arr);
float* out = (float*)PyArray_DATA(%(z)s);
const npy_intp planes = s[0] * s[1];
#pragma omp parallel for if (planes * H * W >= %(parallel)d)
for (npy_intp p = 0; p < planes; ++p) {
    for (npy_intp i = 0; i < h; ++i) {
        float* r0 = out + (p * H + 2 * i) * W;
        float* r1 = r0 + W;
        const float* gi = g + (p * h + i) * w;
        for (npy_intp j = 0; j < w; ++j) {
            const float q = 0.25f * gi[j];
            r0[2 * j] = q; r0[2 * j + 1] = q;
            r1[2 * j] = q; r1[2 * j + 1] = q;
        }
        if (W & 1) { r0[W - 1] = 0.f; r1[W - 1] = 0.f; }
    }
    if (H & 1)
        memset(out + (p * H + H - 1) * W, 0, W * sizeof(float));
}
Py_DECREF(g_arr);
}
