/* nn_t.h: the typed kernels of nn.c (T is float or double, names SFX(name)); see nn.c. */

/* y = x * mask, aux = mask, mask_i = keep_i / (1 - p): keep_i = (u_i >= p) for the
   uniform u_i = pat_uniform53(key, counter, i); p == 1 drops everything (mask 0). */
static void SFX(dropout_fwd)(T *restrict y, T *restrict mask, const T *restrict x,
                             uint64_t key, uint64_t counter, int64_t n, double p) {
    const T scale = p < 1.0 ? (T)(1.0 / (1.0 - p)) : (T)0;
    const uint64_t base = pat_mix64(key ^ pat_mix64(counter));
    for (int64_t i = 0; i < n; i++) {
        const double u = pat_uniform53(base, (uint64_t)i);
        const T m = (p < 1.0 && u >= p) ? scale : (T)0;
        mask[i] = m;
        y[i] = x[i] * m;
    }
}

/* reverse and tangent: out += in * mask (the op is linear in x: J = diag(mask)) */
static void SFX(dropout_acc)(T *restrict out, const T *restrict in, const T *restrict mask,
                             int64_t n) {
    for (int64_t i = 0; i < n; i++) out[i] += in[i] * mask[i];
}

/* pick: y[r] = x[r, lab_r] (x is m x k), or 0 where lab_r == ignore. PAT_EINDEX for any
   other label outside [0, k). */
static int SFX(pick_fwd)(T *restrict y, const T *restrict x, const int64_t *restrict lab,
                         int64_t m, int64_t k, int64_t ignore) {
    for (int64_t r = 0; r < m; r++) {
        const int64_t c = lab[r];
        if (c == ignore) { y[r] = 0; continue; }
        if (c < 0 || c >= k) return PAT_EINDEX;
        y[r] = x[r * k + c];
    }
    return PAT_OK;
}

/* reverse: dx[r, lab_r] += dy[r]; tangent: ty[r] += tx[r, lab_r] (skipping ignored rows) */
static int SFX(pick_route)(T *restrict out, const T *restrict in, const int64_t *restrict lab,
                           int64_t m, int64_t k, int64_t ignore, int tangent) {
    for (int64_t r = 0; r < m; r++) {
        const int64_t c = lab[r];
        if (c == ignore) continue;
        if (c < 0 || c >= k) return PAT_EINDEX;
        if (tangent) out[r] += in[r * k + c];
        else out[r * k + c] += in[r];
    }
    return PAT_OK;
}

/* embedding: y[r, :] = w[idx_r, :] for w (k, n) and m indices (checked in [0, k)) */
static int SFX(rows_fwd)(T *restrict y, const T *restrict w, const int64_t *restrict idx,
                         int64_t m, int64_t k, int64_t n) {
    for (int64_t r = 0; r < m; r++) {
        const int64_t i = idx[r];
        if (i < 0 || i >= k) return PAT_EINDEX;
        for (int64_t j = 0; j < n; j++) y[r * n + j] = w[i * n + j];
    }
    return PAT_OK;
}

/* reverse: dw[idx_r, :] += dy[r, :], except for rows whose index is `skip` (padding_idx,
   -1 for none); tangent: ty[r, :] += tw[idx_r, :] */
static int SFX(rows_route)(T *restrict out, const T *restrict in, const int64_t *restrict idx,
                           int64_t m, int64_t k, int64_t n, int64_t skip, int tangent) {
    for (int64_t r = 0; r < m; r++) {
        const int64_t i = idx[r];
        if (i < 0 || i >= k) return PAT_EINDEX;
        if (tangent) {
            for (int64_t j = 0; j < n; j++) out[r * n + j] += in[i * n + j];
        } else if (i != skip) {
            for (int64_t j = 0; j < n; j++) out[i * n + j] += in[r * n + j];
        }
    }
    return PAT_OK;
}
