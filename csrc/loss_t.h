/* loss_t.h: softmax, log-softmax, fused softmax + cross-entropy and mean squared error for
   every sweep, instantiated by loss.c for float and double (typed.h).

   Contract: softmax-like kernels see x as (m, k, n) and normalise over the middle axis
   (n = 1 when the axis is the last one). Forward kernels overwrite; reverse, tangent and
   second-order kernels accumulate, and read a NULL tangent as zero. Labels were
   range-checked in Python; the kernels check again and return PAT_EINDEX rather than
   read out of bounds. The tangent of softmax is its reverse kernel (its Jacobian
   diag(y) - y y^T is symmetric); log_softmax's is not, and has a kernel of its own.

   Second-order terms: for y = f(x) the reverse sweep runs xbar += J(x)^T ybar; its
   derivative along a direction is J^T ybar' + (dJ[x'])^T ybar, with x' the tangent of
   x. The *_soa kernels add the second part. */

/* y(m,k,n) = softmax(x) or log_softmax(x) over k, shifted by the max for stability */
PAT_SIMD static void SFX(softmax_fwd)(T *y, const T *x, int64_t m, int64_t k, int64_t n, int take_log) {
    for (int64_t o = 0; o < m; o++)
        for (int64_t i = 0; i < n; i++) {
            const T *xx = x + o * k * n + i;
            T *yy = y + o * k * n + i;
            T mx = -INFINITY;
            for (int64_t c = 0; c < k; c++) mx = xx[c * n] > mx || xx[c * n] != xx[c * n] ? xx[c * n] : mx;
            if (mx == -INFINITY) mx = 0;  /* a row of -inf stays finite until the log */
            T s = 0;
            for (int64_t c = 0; c < k; c++) s += M(exp)(xx[c * n] - mx);
            if (take_log) {
                const T lse = mx + M(log)(s);
                for (int64_t c = 0; c < k; c++) yy[c * n] = xx[c * n] - lse;
            } else {
                for (int64_t c = 0; c < k; c++) yy[c * n] = M(exp)(xx[c * n] - mx) / s;
            }
        }
}

/* softmax:     dx += y * (dy - sum_k(dy * y))
   log_softmax: dx += dy - exp(y) * sum_k(dy) */
PAT_SIMD static void SFX(softmax_bwd)(T *dx, const T *dy, const T *y, int64_t m, int64_t k, int64_t n,
                             int take_log) {
    for (int64_t o = 0; o < m; o++)
        for (int64_t i = 0; i < n; i++) {
            const int64_t base = o * k * n + i;
            T s = 0;
            if (take_log) {
                for (int64_t c = 0; c < k; c++) s += dy[base + c * n];
                for (int64_t c = 0; c < k; c++)
                    dx[base + c * n] += dy[base + c * n] - M(exp)(y[base + c * n]) * s;
            } else {
                for (int64_t c = 0; c < k; c++) s += dy[base + c * n] * y[base + c * n];
                for (int64_t c = 0; c < k; c++)
                    dx[base + c * n] += y[base + c * n] * (dy[base + c * n] - s);
            }
        }
}

/* y = -log_softmax(x(m,k))[r, label_r], reduced (0 none: y(m); 1 mean, 2 sum: y());
   probs(m,k) = softmax(x), kept for the backward */
PAT_SIMD static int SFX(xent_fwd)(T *y, T *probs, const T *x, const int64_t *labels, int64_t m,
                         int64_t k, int64_t reduction) {
    double total = 0;
    for (int64_t r = 0; r < m; r++) {
        const int64_t lab = labels[r];
        if (lab < 0 || lab >= k) return PAT_EINDEX;
        const T *xx = x + r * k;
        T *p = probs + r * k;
        T mx = -INFINITY;
        for (int64_t c = 0; c < k; c++) mx = xx[c] > mx || xx[c] != xx[c] ? xx[c] : mx;
        if (mx == -INFINITY) mx = 0;
        T s = 0;
        for (int64_t c = 0; c < k; c++) { p[c] = M(exp)(xx[c] - mx); s += p[c]; }
        for (int64_t c = 0; c < k; c++) p[c] /= s;
        const T loss = mx + M(log)(s) - xx[lab];
        if (reduction == 0) y[r] = loss;
        else total += (double)loss;
    }
    if (reduction == 1) y[0] = (T)(total / (double)m);  /* m == 0 gives NaN, as PyTorch */
    if (reduction == 2) y[0] = (T)total;
    return PAT_OK;
}

/* dx[r, c] += g_r * (probs[r, c] - [c == label_r]); g_r = dy[r], dy/m or dy */
PAT_SIMD static int SFX(xent_bwd)(T *dx, const T *dy, const T *probs, const int64_t *labels, int64_t m,
                         int64_t k, int64_t reduction) {
    for (int64_t r = 0; r < m; r++) {
        const int64_t lab = labels[r];
        if (lab < 0 || lab >= k) return PAT_EINDEX;
        const T g = reduction == 0 ? dy[r] : reduction == 1 ? dy[0] / (T)m : dy[0];
        for (int64_t c = 0; c < k; c++) dx[r * k + c] += g * probs[r * k + c];
        dx[r * k + lab] -= g;
    }
    return PAT_OK;
}

/* diff(n) = a - b; y = diff^2 reduced (0 none: y(n); 1 mean, 2 sum: y()) */
PAT_SIMD static void SFX(mse_fwd)(T *y, T *diff, const T *a, const T *b, int64_t n, int64_t reduction) {
    double total = 0;
    for (int64_t i = 0; i < n; i++) {
        diff[i] = a[i] - b[i];
        const T sq = diff[i] * diff[i];
        if (reduction == 0) y[i] = sq;
        else total += (double)sq;
    }
    if (reduction == 1) y[0] = (T)(total / (double)n);
    if (reduction == 2) y[0] = (T)total;
}

/* da += 2 g diff, db -= 2 g diff; g = dy[i], dy/n or dy */
PAT_SIMD static void SFX(mse_bwd)(T *da, T *db, const T *dy, const T *diff, int64_t n, int64_t reduction) {
    for (int64_t i = 0; i < n; i++) {
        const T g = reduction == 0 ? dy[i] : reduction == 1 ? dy[0] / (T)n : dy[0];
        const T t = (T)2 * g * diff[i];
        if (da) da[i] += t;
        if (db) db[i] -= t;
    }
}

/* ---- tangents ---------------------------------------------------------------------- */

/* ty(m,k,n) += tx - sum_k(exp(y) tx) over the middle axis: the tangent of log_softmax,
   whose Jacobian I - 1 softmax^T is not symmetric (softmax's is; its tangent is the
   backward kernel itself) */
static void SFX(log_softmax_tan)(T *ty, const T *tx, const T *y, int64_t m, int64_t k,
                                 int64_t n) {
    for (int64_t o = 0; o < m; o++)
        for (int64_t i = 0; i < n; i++) {
            const int64_t base = o * k * n + i;
            T s = 0;
            for (int64_t c = 0; c < k; c++) s += M(exp)(y[base + c * n]) * tx[base + c * n];
            for (int64_t c = 0; c < k; c++) ty[base + c * n] += tx[base + c * n] - s;
        }
}

/* ty += sum_c (probs[r,c] - [c == label_r]) tx[r,c], per row (reduction 0: ty(m)) or
   reduced (1 mean, 2 sum: ty()) */
static int SFX(xent_tan)(T *ty, const T *tx, const T *probs, const int64_t *labels, int64_t m,
                         int64_t k, int64_t reduction) {
    double total = 0;
    for (int64_t r = 0; r < m; r++) {
        const int64_t lab = labels[r];
        if (lab < 0 || lab >= k) return PAT_EINDEX;
        T d = 0;
        for (int64_t c = 0; c < k; c++) d += probs[r * k + c] * tx[r * k + c];
        d -= tx[r * k + lab];
        if (reduction == 0) ty[r] += d;
        else total += (double)d;
    }
    if (reduction == 1 && m > 0) ty[0] += (T)(total / (double)m);
    if (reduction == 2) ty[0] += (T)total;
    return PAT_OK;
}

/* ty += 2 diff (ta - tb), per element (reduction 0: ty(n)) or reduced (1 mean, 2 sum) */
static void SFX(mse_tan)(T *ty, const T *ta, const T *tb, const T *diff, int64_t n,
                         int64_t reduction) {
    double total = 0;
    for (int64_t i = 0; i < n; i++) {
        const T d = (ta ? ta[i] : (T)0) - (tb ? tb[i] : (T)0);
        const T t = (T)2 * diff[i] * d;
        if (reduction == 0) ty[i] += t;
        else total += (double)t;
    }
    if (reduction == 1 && n > 0) ty[0] += (T)(total / (double)n);
    if (reduction == 2) ty[0] += (T)total;
}

/* ---- second-order terms -------------------------------------------------------------- */

/* softmax:     gx += ty (ybar - <ybar, y>) - y <ybar, ty>
   log_softmax: gx -= exp(y) ty sum(ybar)
   over the middle axis of (m, k, n); ty is the tangent of the op's output */
static void SFX(softmax_soa)(T *gx, const T *ybar, const T *y, const T *ty, int64_t m,
                             int64_t k, int64_t n, int take_log) {
    for (int64_t o = 0; o < m; o++)
        for (int64_t i = 0; i < n; i++) {
            const int64_t base = o * k * n + i;
            if (take_log) {
                T s = 0;
                for (int64_t c = 0; c < k; c++) s += ybar[base + c * n];
                for (int64_t c = 0; c < k; c++)
                    gx[base + c * n] -= M(exp)(y[base + c * n]) * ty[base + c * n] * s;
            } else {
                T s = 0, ds = 0;
                for (int64_t c = 0; c < k; c++) {
                    s += ybar[base + c * n] * y[base + c * n];
                    ds += ybar[base + c * n] * ty[base + c * n];
                }
                for (int64_t c = 0; c < k; c++)
                    gx[base + c * n] += ty[base + c * n] * (ybar[base + c * n] - s) - y[base + c * n] * ds;
            }
        }
}

/* gx[r,c] += g_r probs[r,c] (tx[r,c] - <probs[r], tx[r]>): the tangent of the softmax in
   the backward rule g_r (probs - onehot); g_r = ybar[r], ybar/m or ybar */
static int SFX(xent_soa)(T *gx, const T *ybar, const T *probs, const int64_t *labels,
                         const T *tx, int64_t m, int64_t k, int64_t reduction) {
    for (int64_t r = 0; r < m; r++) {
        const int64_t lab = labels[r];
        if (lab < 0 || lab >= k) return PAT_EINDEX;
        const T g = reduction == 0 ? ybar[r] : reduction == 1 ? ybar[0] / (T)m : ybar[0];
        T d = 0;
        for (int64_t c = 0; c < k; c++) d += probs[r * k + c] * tx[r * k + c];
        for (int64_t c = 0; c < k; c++) gx[r * k + c] += g * probs[r * k + c] * (tx[r * k + c] - d);
    }
    return PAT_OK;
}

/* ga += 2 g (ta - tb), gb -= 2 g (ta - tb); g = ybar[i], ybar/n or ybar */
static void SFX(mse_soa)(T *ga, T *gb, const T *ybar, const T *ta, const T *tb, int64_t n,
                         int64_t reduction) {
    for (int64_t i = 0; i < n; i++) {
        const T g = reduction == 0 ? ybar[i] : reduction == 1 ? ybar[0] / (T)n : ybar[0];
        const T t = (T)2 * g * ((ta ? ta[i] : (T)0) - (tb ? tb[i] : (T)0));
        if (ga) ga[i] += t;
        if (gb) gb[i] -= t;
    }
}
