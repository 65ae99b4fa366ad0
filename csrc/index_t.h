/* index_t.h: the typed kernels of index.c (T is float or double, names SFX(name)); see
   index.c. off holds n int64 element offsets into a buffer of k elements. */

/* gather: y[i] = x[off[i]], i < n. PAT_EINDEX for an offset outside [0, k). */
static int SFX(take_fwd)(T *restrict y, const T *restrict x, const int64_t *restrict off,
                         int64_t n, int64_t k) {
    for (int64_t i = 0; i < n; i++) {
        const int64_t o = off[i];
        if (o < 0 || o >= k) return PAT_EINDEX;
        y[i] = x[o];
    }
    return PAT_OK;
}

/* pull: out[i] += in[off[i]] (gather's tangent, scatter_add's reverse);
   push: out[off[i]] += in[i], i = 0, 1, ... in order, so repeated offsets accumulate
   deterministically (gather's reverse, scatter_add's forward and tangent). */
static int SFX(take_route)(T *restrict out, const T *restrict in, const int64_t *restrict off,
                           int64_t n, int64_t k, int pull) {
    for (int64_t i = 0; i < n; i++) {
        const int64_t o = off[i];
        if (o < 0 || o >= k) return PAT_EINDEX;
        if (pull) out[i] += in[o];
        else out[o] += in[i];
    }
    return PAT_OK;
}
