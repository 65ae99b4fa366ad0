/* eltwise_t.h: elementwise kernels, written once and instantiated by eltwise.c for
   T = float (suffix _f32, libm's f-functions) and T = double (suffix _f64).

   Contract: unary kernels run over n contiguous elements; binary and where kernels walk a
   pat_iter whose operand 0 is y (forward) or dy (backward). Backward kernels accumulate
   into the gradients they are given and skip NULL ones. Selections use `?:`, never a
   multiplication by a 0/1 mask, so a NaN or Inf upstream cannot leak into a unit whose
   partial is zero. */

/* y(n) = f(x(n)) */
static int SFX(unary_fwd)(int op, T *y, const T *x, int64_t n, T alpha) {
    switch ((pat_op)op) {
    case PAT_OP_NEG:     for (int64_t i = 0; i < n; i++) y[i] = -x[i]; break;
    case PAT_OP_EXP:     for (int64_t i = 0; i < n; i++) y[i] = M(exp)(x[i]); break;
    case PAT_OP_LOG:     for (int64_t i = 0; i < n; i++) y[i] = M(log)(x[i]); break;
    case PAT_OP_SQRT:    for (int64_t i = 0; i < n; i++) y[i] = M(sqrt)(x[i]); break;
    case PAT_OP_TANH:    for (int64_t i = 0; i < n; i++) y[i] = M(tanh)(x[i]); break;
    case PAT_OP_SIGMOID:
        /* two branches so exp never overflows: for x < 0 use e^x / (1 + e^x) */
        for (int64_t i = 0; i < n; i++) {
            T v = x[i];
            if (v >= 0) y[i] = (T)1 / ((T)1 + M(exp)(-v));
            else { T e = M(exp)(v); y[i] = e / ((T)1 + e); }
        }
        break;
    case PAT_OP_RELU:
        /* not `x > 0 ? x : 0`: relu(NaN) must be NaN, as in NumPy, PyTorch and JAX.
           !(x <= 0) is "above 0 or NaN" in one ordered compare, which vectorises. */
        for (int64_t i = 0; i < n; i++) {
            const T u = x[i];
            y[i] = !(u <= 0) ? u : (T)0;
        }
        break;
    case PAT_OP_LEAKY_RELU:
        for (int64_t i = 0; i < n; i++) {
            const T u = x[i];
            y[i] = !(u <= 0) ? u : alpha * u;
        }
        break;
    default:
        return PAT_EBADOP;
    }
    return PAT_OK;
}

/* dx(n) += dy(n) * f'(x), reading y or x as the rule needs */
static int SFX(unary_bwd)(int op, T *dx, const T *dy, const T *y, const T *x, int64_t n,
                          T alpha) {
    switch ((pat_op)op) {
    case PAT_OP_NEG:
        for (int64_t i = 0; i < n; i++) dx[i] -= dy[i];
        break;
    case PAT_OP_EXP:     /* d exp = exp = y */
        if (!y) return PAT_ENULL;
        for (int64_t i = 0; i < n; i++) dx[i] += dy[i] * y[i];
        break;
    case PAT_OP_LOG:     /* d log = 1/x; at 0 this is +inf, as in JAX and PyTorch */
        if (!x) return PAT_ENULL;
        for (int64_t i = 0; i < n; i++) dx[i] += dy[i] / x[i];
        break;
    case PAT_OP_SQRT:    /* d sqrt = 1/(2 sqrt x) = 0.5/y; at 0 this is +inf */
        if (!y) return PAT_ENULL;
        for (int64_t i = 0; i < n; i++) dx[i] += dy[i] * (T)0.5 / y[i];
        break;
    case PAT_OP_TANH:    /* d tanh = 1 - y^2 */
        if (!y) return PAT_ENULL;
        for (int64_t i = 0; i < n; i++) dx[i] += dy[i] * ((T)1 - y[i] * y[i]);
        break;
    case PAT_OP_SIGMOID: /* d sigmoid = y (1 - y) */
        if (!y) return PAT_ENULL;
        for (int64_t i = 0; i < n; i++) dx[i] += dy[i] * y[i] * ((T)1 - y[i]);
        break;
    case PAT_OP_RELU: {
        /* v is x, or y when the subgradient is 0 (y > 0 exactly when x > 0, and y == 0
           covers x <= 0, whose partial is then 0 either way). Above 0 or NaN: pass dy (as
           PyTorch's threshold_backward); exactly 0: alpha * dy; below: 0. */
        const T *v = x ? x : y;
        if (!v) return PAT_ENULL;
        /* loads hoisted out of the selects, so the loops become vector blends */
        if (alpha == 0)
            for (int64_t i = 0; i < n; i++) {
                const T g = dy[i], u = v[i];
                dx[i] += !(u <= 0) ? g : (T)0;
            }
        else
            for (int64_t i = 0; i < n; i++) {
                const T g = dy[i], u = v[i];
                dx[i] += !(u <= 0) ? g : (u == 0 ? alpha * g : (T)0);
            }
        break;
    }
    case PAT_OP_LEAKY_RELU:  /* 1 above 0 (and at NaN), alpha at or below 0 */
        if (!x) return PAT_ENULL;
        for (int64_t i = 0; i < n; i++) {
            const T g = dy[i], u = x[i];
            dx[i] += !(u <= 0) ? g : alpha * g;
        }
        break;
    default:
        return PAT_EBADOP;
    }
    return PAT_OK;
}

/* y = a (op) b over a broadcast iteration space: it operands [y, a, b] */
static int SFX(binary_fwd)(int op, T *y, const T *a, const T *b, const pat_iter *it, T alpha) {
    (void)alpha;
    const int64_t inner = walk_inner(it);
    const int64_t sy = walk_inner_stride(it, 0), sa = walk_inner_stride(it, 1),
                  sb = walk_inner_stride(it, 2);
    pat_walk w;
    walk_start(&w, it);
    while (walk_next(&w, it)) {
        T *yy = y + w.off[0];
        const T *aa = a + w.off[1], *bb = b + w.off[2];
        switch ((pat_op)op) {
        case PAT_OP_ADD: for (int64_t i = 0; i < inner; i++) yy[i * sy] = aa[i * sa] + bb[i * sb]; break;
        case PAT_OP_SUB: for (int64_t i = 0; i < inner; i++) yy[i * sy] = aa[i * sa] - bb[i * sb]; break;
        case PAT_OP_MUL: for (int64_t i = 0; i < inner; i++) yy[i * sy] = aa[i * sa] * bb[i * sb]; break;
        case PAT_OP_DIV: for (int64_t i = 0; i < inner; i++) yy[i * sy] = aa[i * sa] / bb[i * sb]; break;
        case PAT_OP_POW: for (int64_t i = 0; i < inner; i++) yy[i * sy] = M(pow)(aa[i * sa], bb[i * sb]); break;
        case PAT_OP_MAXIMUM:  /* NaN propagates, as np.maximum */
            for (int64_t i = 0; i < inner; i++) {
                T u = aa[i * sa], v = bb[i * sb];
                yy[i * sy] = u >= v || u != u ? u : v;
            }
            break;
        case PAT_OP_MINIMUM:
            for (int64_t i = 0; i < inner; i++) {
                T u = aa[i * sa], v = bb[i * sb];
                yy[i * sy] = u <= v || u != u ? u : v;
            }
            break;
        default:
            return PAT_EBADOP;
        }
    }
    return PAT_OK;
}

/* da, db += partials of y = a (op) b; it operands [dy, a, b]. A stride of 0 on an axis of
   a or b sums the partials over that broadcast axis. da and db may be the same buffer
   (x * x), so each element is read and written once per partial, in order. */
static int SFX(binary_bwd)(int op, T *da, T *db, const T *dy, const T *a, const T *b,
                           const pat_iter *it, T alpha) {
    const int64_t inner = walk_inner(it);
    const int64_t sy = walk_inner_stride(it, 0), sa = walk_inner_stride(it, 1),
                  sb = walk_inner_stride(it, 2);
    /* each partial reads only what its formula needs, and Python keeps only that */
    if (op == PAT_OP_MUL && ((da && !b) || (db && !a))) return PAT_ENULL;
    if (op != PAT_OP_ADD && op != PAT_OP_SUB && op != PAT_OP_MUL && (!a || !b)) return PAT_ENULL;
    pat_walk w;
    walk_start(&w, it);
    while (walk_next(&w, it)) {
        const T *g = dy + w.off[0];
        const T *u = a ? a + w.off[1] : NULL, *v = b ? b + w.off[2] : NULL;
        T *ga = da ? da + w.off[1] : NULL, *gb = db ? db + w.off[2] : NULL;
        switch ((pat_op)op) {
        case PAT_OP_ADD:
            if (ga) for (int64_t i = 0; i < inner; i++) ga[i * sa] += g[i * sy];
            if (gb) for (int64_t i = 0; i < inner; i++) gb[i * sb] += g[i * sy];
            break;
        case PAT_OP_SUB:
            if (ga) for (int64_t i = 0; i < inner; i++) ga[i * sa] += g[i * sy];
            if (gb) for (int64_t i = 0; i < inner; i++) gb[i * sb] -= g[i * sy];
            break;
        case PAT_OP_MUL:  /* d(ab) = b da + a db */
            if (ga) for (int64_t i = 0; i < inner; i++) ga[i * sa] += g[i * sy] * v[i * sb];
            if (gb) for (int64_t i = 0; i < inner; i++) gb[i * sb] += g[i * sy] * u[i * sa];
            break;
        case PAT_OP_DIV:  /* d(a/b) = da / b - a db / b^2 */
            if (ga) for (int64_t i = 0; i < inner; i++) ga[i * sa] += g[i * sy] / v[i * sb];
            if (gb)
                for (int64_t i = 0; i < inner; i++)
                    gb[i * sb] -= g[i * sy] * u[i * sa] / (v[i * sb] * v[i * sb]);
            break;
        case PAT_OP_POW:  /* d(a^b) = b a^(b-1) da + a^b log(a) db */
            /* b == 0 gives 0 even at a == 0 (not 0 * inf); a == 0 with b >= 0 gives a zero
               exponent partial (not 0 * -inf). Both as PyTorch. */
            if (ga)
                for (int64_t i = 0; i < inner; i++) {
                    const T p = u[i * sa], q = v[i * sb];
                    ga[i * sa] += q == 0 ? (T)0 : g[i * sy] * q * M(pow)(p, q - 1);
                }
            if (gb)
                for (int64_t i = 0; i < inner; i++) {
                    const T p = u[i * sa], q = v[i * sb];
                    gb[i * sb] += p == 0 && q >= 0 ? (T)0 : g[i * sy] * M(pow)(p, q) * M(log)(p);
                }
            break;
        case PAT_OP_MAXIMUM:
        case PAT_OP_MINIMUM:
            /* The winner takes dy; a tie splits it alpha : 1 - alpha, so relu(x) and
               maximum(x, 0) agree. A NaN operand wins, since it is the output. */
            for (int64_t i = 0; i < inner; i++) {
                const T p = u[i * sa], q = v[i * sb], d = g[i * sy];
                T fa;
                if (p == q) fa = alpha;
                else if (p != p) fa = 1;
                else if (q != q) fa = 0;
                else fa = (op == PAT_OP_MAXIMUM ? p > q : p < q) ? (T)1 : (T)0;
                if (ga) ga[i * sa] += fa == 0 ? (T)0 : fa * d;
                if (gb) gb[i * sb] += fa == 1 ? (T)0 : ((T)1 - fa) * d;
            }
            break;
        default:
            return PAT_EBADOP;
        }
    }
    return PAT_OK;
}

/* y = c ? a : b; it operands [y, c, a, b] */
static void SFX(where_fwd)(T *y, const uint8_t *c, const T *a, const T *b, const pat_iter *it) {
    const int64_t inner = walk_inner(it);
    const int64_t sy = walk_inner_stride(it, 0), sc = walk_inner_stride(it, 1),
                  sa = walk_inner_stride(it, 2), sb = walk_inner_stride(it, 3);
    pat_walk w;
    walk_start(&w, it);
    while (walk_next(&w, it))
        for (int64_t i = 0; i < inner; i++)
            y[w.off[0] + i * sy] = c[w.off[1] + i * sc] ? a[w.off[2] + i * sa] : b[w.off[3] + i * sb];
}

/* da += c ? dy : 0, db += c ? 0 : dy; it operands [dy, c, a, b] */
static void SFX(where_bwd)(T *da, T *db, const T *dy, const uint8_t *c, const pat_iter *it) {
    const int64_t inner = walk_inner(it);
    const int64_t sy = walk_inner_stride(it, 0), sc = walk_inner_stride(it, 1),
                  sa = walk_inner_stride(it, 2), sb = walk_inner_stride(it, 3);
    pat_walk w;
    walk_start(&w, it);
    while (walk_next(&w, it))
        for (int64_t i = 0; i < inner; i++) {
            const T d = dy[w.off[0] + i * sy];
            if (c[w.off[1] + i * sc]) { if (da) da[w.off[2] + i * sa] += d; }
            else if (db) db[w.off[3] + i * sb] += d;
        }
}
