/* jvp_t.h: tangent rules (forward mode) and second-order adjoint terms (forward-over-
   reverse), one seed at a time, instantiated by tangent.c for T = float (suffix _f32,
   libm's f-functions) and T = double (suffix _f64).

   Contract: every kernel accumulates (ty += ..., g += ...) and reads a NULL tangent as
   zero. A tangent rule uses the same partial derivatives, written the same way, as the
   op's backward kernel, so <u, J v> from a tangent sweep equals <J^T u, v> from the
   reverse sweep to rounding, and it reads only the values that backward reads (the tape
   keeps nothing extra for forward mode). Selections use `?:`, never a product with a
   0/1 mask, so a NaN tangent of an unselected operand cannot leak.

   Second-order terms: for y = f(x) the reverse sweep runs xbar += J(x)^T ybar; its
   derivative along a direction u is J^T ybar' + (dJ[x'])^T ybar, with x' the tangent of
   x. The first part is the backward kernel applied to ybar'; the *_soa kernels add the
   second, which is zero for linear and piecewise-linear ops. */

/* ---- tangent rules ---------------------------------------------------------------- */

/* ty += ta * dy/da + tb * dy/db for y = a (op) b; it operands [y, a, b] */
static int SFX(binary_tan)(int op, T *ty, const T *ta, const T *tb, const T *a, const T *b,
                           const pat_iter *it, T alpha) {
    const int64_t inner = walk_inner(it);
    const int64_t sy = walk_inner_stride(it, 0), sa = walk_inner_stride(it, 1),
                  sb = walk_inner_stride(it, 2);
    if (op == PAT_OP_MUL && ((ta && !b) || (tb && !a))) return PAT_ENULL;
    if (op != PAT_OP_ADD && op != PAT_OP_SUB && op != PAT_OP_MUL && (!a || !b)) return PAT_ENULL;
    pat_walk w;
    walk_start(&w, it);
    while (walk_next(&w, it)) {
        T *yy = ty + w.off[0];
        const T *da = ta ? ta + w.off[1] : NULL, *db = tb ? tb + w.off[2] : NULL;
        const T *u = a ? a + w.off[1] : NULL, *v = b ? b + w.off[2] : NULL;
        switch ((pat_op)op) {
        case PAT_OP_ADD:
            if (da) for (int64_t i = 0; i < inner; i++) yy[i * sy] += da[i * sa];
            if (db) for (int64_t i = 0; i < inner; i++) yy[i * sy] += db[i * sb];
            break;
        case PAT_OP_SUB:
            if (da) for (int64_t i = 0; i < inner; i++) yy[i * sy] += da[i * sa];
            if (db) for (int64_t i = 0; i < inner; i++) yy[i * sy] -= db[i * sb];
            break;
        case PAT_OP_MUL:
            if (da) for (int64_t i = 0; i < inner; i++) yy[i * sy] += da[i * sa] * v[i * sb];
            if (db) for (int64_t i = 0; i < inner; i++) yy[i * sy] += u[i * sa] * db[i * sb];
            break;
        case PAT_OP_DIV:
            if (da) for (int64_t i = 0; i < inner; i++) yy[i * sy] += da[i * sa] / v[i * sb];
            if (db)
                for (int64_t i = 0; i < inner; i++)
                    yy[i * sy] -= db[i * sb] * u[i * sa] / (v[i * sb] * v[i * sb]);
            break;
        case PAT_OP_POW:  /* the partials and their conventions at 0 are binary_bwd's */
            if (da)
                for (int64_t i = 0; i < inner; i++) {
                    const T p = u[i * sa], q = v[i * sb];
                    yy[i * sy] += q == 0 ? (T)0 : da[i * sa] * q * M(pow)(p, q - 1);
                }
            if (db)
                for (int64_t i = 0; i < inner; i++) {
                    const T p = u[i * sa], q = v[i * sb];
                    yy[i * sy] += p == 0 && q >= 0 ? (T)0 : db[i * sb] * M(pow)(p, q) * M(log)(p);
                }
            break;
        case PAT_OP_MAXIMUM:
        case PAT_OP_MINIMUM:
            for (int64_t i = 0; i < inner; i++) {
                const T p = u[i * sa], q = v[i * sb];
                T fa;
                if (p == q) fa = alpha;
                else if (p != p) fa = 1;
                else if (q != q) fa = 0;
                else fa = (op == PAT_OP_MAXIMUM ? p > q : p < q) ? (T)1 : (T)0;
                if (da) yy[i * sy] += fa == 0 ? (T)0 : fa * da[i * sa];
                if (db) yy[i * sy] += fa == 1 ? (T)0 : ((T)1 - fa) * db[i * sb];
            }
            break;
        default:
            return PAT_EBADOP;
        }
    }
    return PAT_OK;
}

/* ty += c ? ta : tb; it operands [y, c, a, b] */
static void SFX(where_tan)(T *ty, const uint8_t *c, const T *ta, const T *tb,
                           const pat_iter *it) {
    const int64_t inner = walk_inner(it);
    const int64_t sy = walk_inner_stride(it, 0), sc = walk_inner_stride(it, 1),
                  sa = walk_inner_stride(it, 2), sb = walk_inner_stride(it, 3);
    pat_walk w;
    walk_start(&w, it);
    while (walk_next(&w, it))
        for (int64_t i = 0; i < inner; i++) {
            T d;
            if (c[w.off[1] + i * sc]) d = ta ? ta[w.off[2] + i * sa] : (T)0;
            else d = tb ? tb[w.off[3] + i * sb] : (T)0;
            ty[w.off[0] + i * sy] += d;
        }
}

/* ty[o] += sum of tx[i] / cnt[o] over the i where x[i] is the max y[o] (max_bwd's rule) */
static void SFX(max_tan)(T *ty, const T *tx, const T *y, const T *cnt, const T *x,
                         const pat_iter *it) {
    const int64_t inner = walk_inner(it);
    const int64_t sy = walk_inner_stride(it, 0), sx = walk_inner_stride(it, 1);
    pat_walk w;
    walk_start(&w, it);
    while (walk_next(&w, it))
        for (int64_t i = 0; i < inner; i++) {
            const int64_t o = w.off[0] + i * sy;
            const T v = x[w.off[1] + i * sx], m = y[o];
            if (v == m || (v != v && m != m)) ty[o] += tx[w.off[1] + i * sx] / cnt[o];
        }
}

/* ty[o] += tx[base + offset(o)]: the tangent of a strided view; it over y: [y, x] */
static void SFX(gather_tan)(T *ty, const T *tx, const pat_iter *it, int64_t base) {
    const int64_t inner = walk_inner(it);
    const int64_t sy = walk_inner_stride(it, 0), sx = walk_inner_stride(it, 1);
    pat_walk w;
    walk_start(&w, it);
    while (walk_next(&w, it)) {
        T *yy = ty + w.off[0];
        const T *xx = tx + base + w.off[1];
        for (int64_t i = 0; i < inner; i++) yy[i * sy] += xx[i * sx];
    }
}

/* ty(m, k+n) += [ta(m, k) | tb(m, n)] */
static void SFX(concat_tan)(T *ty, const T *ta, const T *tb, int64_t m, int64_t k, int64_t n) {
    for (int64_t r = 0; r < m; r++) {
        if (ta) for (int64_t i = 0; i < k; i++) ty[r * (k + n) + i] += ta[r * k + i];
        if (tb) for (int64_t i = 0; i < n; i++) ty[r * (k + n) + k + i] += tb[r * n + i];
    }
}

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

/* y(m,n) += b(n) on every row */
static void SFX(bias_acc)(T *y, const T *b, int64_t m, int64_t n) {
    for (int64_t r = 0; r < m; r++)
        for (int64_t j = 0; j < n; j++) y[r * n + j] += b[j];
}

/* db(n) += sum over the rows of dy(m,n) */
static void SFX(rowsum_acc)(T *db, const T *dy, int64_t m, int64_t n) {
    for (int64_t r = 0; r < m; r++)
        for (int64_t j = 0; j < n; j++) db[j] += dy[r * n + j];
}

/* ---- second-order adjoint terms -------------------------------------------------- */

/* ga, gb += ybar * (second derivatives of a (op) b applied to (ta, tb)); it [y, a, b].
   ga and gb may be one buffer (x * x): each is read-modify-written once per term. */
static int SFX(binary_soa)(int op, T *ga, T *gb, const T *ybar, const T *a, const T *b,
                           const T *ta, const T *tb, const pat_iter *it) {
    if (op != PAT_OP_MUL && op != PAT_OP_DIV && op != PAT_OP_POW) return PAT_OK;
    if (op != PAT_OP_MUL && (!a || !b)) return PAT_ENULL;
    const int64_t inner = walk_inner(it);
    const int64_t sy = walk_inner_stride(it, 0), sa = walk_inner_stride(it, 1),
                  sb = walk_inner_stride(it, 2);
    pat_walk w;
    walk_start(&w, it);
    while (walk_next(&w, it)) {
        const T *g = ybar + w.off[0];
        const T *u = a ? a + w.off[1] : NULL, *v = b ? b + w.off[2] : NULL;
        const T *da = ta ? ta + w.off[1] : NULL, *db = tb ? tb + w.off[2] : NULL;
        T *A = ga ? ga + w.off[1] : NULL, *B = gb ? gb + w.off[2] : NULL;
        for (int64_t i = 0; i < inner; i++) {
            const T gy = g[i * sy];
            const T tp = da ? da[i * sa] : (T)0, tq = db ? db[i * sb] : (T)0;
            T pa = 0, pb = 0;  /* the terms for a and for b */
            if (op == PAT_OP_MUL) {  /* d2(ab) = da db + db da */
                pa = tq;
                pb = tp;
            } else if (op == PAT_OP_DIV) {  /* a/b: d2/dadb = -1/b^2, d2/db2 = 2a/b^3 */
                const T q = v[i * sb], q2 = q * q;
                pa = -tq / q2;
                pb = -tp / q2 + (T)2 * u[i * sa] * tq / (q2 * q);
            } else {  /* p^q; singular terms at p == 0 are taken as 0, as binary_bwd does.
                         log p (NaN for p < 0) is formed only when the exponent is
                         differentiated: a constant exponent must not bring it in. */
                const T p = u[i * sa], q = v[i * sb];
                const T lp = p == 0 || (!db && !B) ? (T)0 : M(log)(p);
                const T dpq = p == 0 ? (T)0 : M(pow)(p, q - 1) * ((T)1 + q * lp);
                if (da) {
                    const T dpp = q == 0 || q == 1 ? (T)0 : q * (q - 1) * M(pow)(p, q - 2);
                    pa += dpp * tp;
                    pb += dpq * tp;
                }
                if (db) {
                    const T dqq = p == 0 ? (T)0 : M(pow)(p, q) * lp * lp;
                    pa += dpq * tq;
                    pb += dqq * tq;
                }
            }
            if (A) A[i * sa] += gy * pa;
            if (B) B[i * sb] += gy * pb;
        }
    }
    return PAT_OK;
}

/* gx(n) += ybar f''(x) tx, with f'' written through y where the backward reads y */
static int SFX(unary_soa)(int op, T *gx, const T *ybar, const T *y, const T *x, const T *tx,
                          int64_t n) {
    switch ((pat_op)op) {
    case PAT_OP_NEG:
    case PAT_OP_RELU:
    case PAT_OP_LEAKY_RELU:
        return PAT_OK;  /* linear, or piecewise linear */
    case PAT_OP_EXP:     /* f'' = y */
        if (!y) return PAT_ENULL;
        for (int64_t i = 0; i < n; i++) gx[i] += ybar[i] * y[i] * tx[i];
        return PAT_OK;
    case PAT_OP_LOG:     /* f'' = -1/x^2 */
        if (!x) return PAT_ENULL;
        for (int64_t i = 0; i < n; i++) gx[i] -= ybar[i] * tx[i] / (x[i] * x[i]);
        return PAT_OK;
    case PAT_OP_SQRT:    /* f'' = -1/(4 x^1.5) = -0.25/y^3 */
        if (!y) return PAT_ENULL;
        for (int64_t i = 0; i < n; i++) gx[i] -= (T)0.25 * ybar[i] * tx[i] / (y[i] * y[i] * y[i]);
        return PAT_OK;
    case PAT_OP_TANH:    /* f'' = -2 y (1 - y^2) */
        if (!y) return PAT_ENULL;
        for (int64_t i = 0; i < n; i++)
            gx[i] -= (T)2 * ybar[i] * y[i] * ((T)1 - y[i] * y[i]) * tx[i];
        return PAT_OK;
    case PAT_OP_SIGMOID: /* f'' = y (1 - y) (1 - 2y) */
        if (!y) return PAT_ENULL;
        for (int64_t i = 0; i < n; i++)
            gx[i] += ybar[i] * y[i] * ((T)1 - y[i]) * ((T)1 - (T)2 * y[i]) * tx[i];
        return PAT_OK;
    default:
        return PAT_EBADOP;
    }
}

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

/* ---- layout moves for seed-stacked GEMMs ------------------------------------------ */

/* S(K*M, Kd): row j*M + r is row r of op(A_j), op(A_j) = A_j (M, Kd) or A_j^T (A_j (Kd, M)) */
static void SFX(stack_rows)(T *S, const T *A, int64_t sA, int64_t K, int64_t M, int64_t Kd,
                            int ta) {
    for (int64_t j = 0; j < K; j++) {
        const T *Aj = A + j * sA;
        T *Sj = S + j * M * Kd;
        if (ta)
            for (int64_t i = 0; i < Kd; i++)
                for (int64_t r = 0; r < M; r++) Sj[r * Kd + i] = Aj[i * M + r];
        else
            for (int64_t r = 0; r < M * Kd; r++) Sj[r] = Aj[r];
    }
}

/* P(Kd, K*N): columns j*N .. j*N+N-1 are op(B_j), op(B_j) = B_j (Kd, N) or B_j^T (B_j (N, Kd)) */
static void SFX(stack_cols)(T *P, const T *B, int64_t sB, int64_t K, int64_t N, int64_t Kd,
                            int tb) {
    for (int64_t j = 0; j < K; j++) {
        const T *Bj = B + j * sB;
        for (int64_t i = 0; i < Kd; i++)
            for (int64_t c = 0; c < N; c++)
                P[i * K * N + j * N + c] = tb ? Bj[c * Kd + i] : Bj[i * N + c];
    }
}

/* C_j(M,N) += Q[:, j*N .. j*N+N-1] for Q(M, K*N) */
static void SFX(unstack_cols)(T *C, int64_t sC, const T *Q, int64_t K, int64_t M, int64_t N) {
    for (int64_t j = 0; j < K; j++)
        for (int64_t r = 0; r < M; r++)
            for (int64_t c = 0; c < N; c++) C[j * sC + r * N + c] += Q[r * K * N + j * N + c];
}

/* C_j(M,N) += Q[j*M .. j*M+M-1, :] for Q(K*M, N) */
static void SFX(unstack_rows)(T *C, int64_t sC, const T *Q, int64_t K, int64_t M, int64_t N) {
    for (int64_t j = 0; j < K; j++)
        for (int64_t r = 0; r < M * N; r++) C[j * sC + r] += Q[j * M * N + r];
}
