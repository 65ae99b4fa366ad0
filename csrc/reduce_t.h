/* reduce_t.h: reductions and data movement for every sweep, instantiated by reduce.c for
   float and double (typed.h).

   Contract: sum/mean/max walk a pat_iter laid over x, operands [y, x], where y's strides
   are 0 on the reduced axes, so "reduce" is "accumulate through a zero stride". gather
   (transpose, basic indexing) walks a pat_iter laid over y, operands [y, x], where x's
   strides are those of the NumPy view and `base` its element offset. Reverse and tangent
   kernels accumulate. */

#define REDUCE_WALK                                                              \
    const int64_t inner = walk_inner(it);                                       \
    const int64_t sy = walk_inner_stride(it, 0), sx = walk_inner_stride(it, 1); \
    pat_walk w;                                                                 \
    walk_start(&w, it);                                                         \
    while (walk_next(&w, it))

/* y(ny) += alpha * sum of x over the zero-stride axes of y; also the tangent of sum and
   mean. float32 sums are accumulated in double: each contiguous run in a double, and the
   runs of one output in a double buffer of ny (so reducing an outer axis of 10^7 rows
   keeps its precision as torch's does); without memory for that buffer they fall back to
   float32 accumulation across runs. */
PAT_SIMD static void SFX(sum_acc)(T *y, const T *x, const pat_iter *it, int64_t ny, T alpha) {
    double *acc = NULL;
    if (sizeof(T) < sizeof(double) && ny > 0) acc = calloc((size_t)ny, sizeof(double));
    {
        REDUCE_WALK {
            const T *xx = x + w.off[1];
            if (sy == 0) {
                double run = 0;
                for (int64_t i = 0; i < inner; i++) run += (double)xx[i * sx];
                if (acc) acc[w.off[0]] += run;
                else y[w.off[0]] += alpha * (T)run;
            } else if (acc) {
                double *aa = acc + w.off[0];
                for (int64_t i = 0; i < inner; i++) aa[i * sy] += (double)xx[i * sx];
            } else {
                T *yy = y + w.off[0];
                for (int64_t i = 0; i < inner; i++) yy[i * sy] += alpha * xx[i * sx];
            }
        }
    }
    if (acc) {
        for (int64_t j = 0; j < ny; j++) y[j] += (T)((double)alpha * acc[j]);
        free(acc);
    }
}

/* y(ny) = alpha * sum of x over the zero-stride axes of y. The scale comes after the sum,
   so the mean of zero elements is 0 * (1/0) = NaN, as NumPy's. */
static void SFX(sum_fwd)(T *y, const T *x, const pat_iter *it, int64_t ny, T alpha) {
    for (int64_t j = 0; j < ny; j++) y[j] = 0;
    SFX(sum_acc)(y, x, it, ny, (T)1);
    if (alpha != 1)
        for (int64_t j = 0; j < ny; j++) y[j] *= alpha;
}

/* dx += alpha * dy broadcast back over the reduced axes */
static void SFX(sum_bwd)(T *dx, const T *dy, const pat_iter *it, T alpha) {
    REDUCE_WALK {
        const T *g = dy + w.off[0];
        T *gx = dx + w.off[1];
        for (int64_t i = 0; i < inner; i++) gx[i * sx] += alpha * g[i * sy];
    }
}

/* x[i] is the max m of its output (NaN wins, as np.max) */
static inline int SFX(is_max)(T v, T m) { return v == m || (v != v && m != m); }

/* y(ny) = max of x over the reduced axes; cnt(ny) = how many elements tie with the max,
   so the derivative shares dy among them evenly (as torch.amax and jax.numpy.max). The
   counts are doubles in either dtype: exact to 2^53 ties (a float32 count stops at 2^24). */
static void SFX(max_fwd)(T *y, double *cnt, const T *x, const pat_iter *it, int64_t ny) {
    for (int64_t j = 0; j < ny; j++) { y[j] = -INFINITY; cnt[j] = 0; }
    {
        REDUCE_WALK
            for (int64_t i = 0; i < inner; i++) {
                T *yy = y + w.off[0] + i * sy;
                const T v = x[w.off[1] + i * sx];
                if (v > *yy || v != v) *yy = v == v && *yy != *yy ? *yy : v;
            }
    }
    REDUCE_WALK
        for (int64_t i = 0; i < inner; i++)
            if (SFX(is_max)(x[w.off[1] + i * sx], y[w.off[0] + i * sy])) cnt[w.off[0] + i * sy] += 1;
}

/* The derivative of max, both ways: 1/cnt[o] of output o flows to (reverse: dx += dy /
   cnt) or from (tangent: ty += tx / cnt) every x[i] that attains it, 0 elsewhere. */
static void SFX(max_route)(T *out, const T *in, const T *y, const double *cnt, const T *x,
                           const pat_iter *it, int tangent) {
    REDUCE_WALK
        for (int64_t i = 0; i < inner; i++) {
            const int64_t o = w.off[0] + i * sy, j = w.off[1] + i * sx;
            if (!SFX(is_max)(x[j], y[o])) continue;
            if (tangent) out[o] += (T)(in[j] / cnt[o]);
            else out[j] += (T)(in[o] / cnt[o]);
        }
}

/* y[o] = x[base + offset(o)] (acc: +=): a strided view of x made contiguous; with acc it
   is the tangent of that copy */
static void SFX(gather)(T *y, const T *x, const pat_iter *it, int64_t base, int acc) {
    REDUCE_WALK {
        T *yy = y + w.off[0];
        const T *xx = x + base + w.off[1];
        if (acc) for (int64_t i = 0; i < inner; i++) yy[i * sy] += xx[i * sx];
        else for (int64_t i = 0; i < inner; i++) yy[i * sy] = xx[i * sx];
    }
}

/* dx[base + offset(o)] += dy[o] */
static void SFX(gather_bwd)(T *dx, const T *dy, const pat_iter *it, int64_t base) {
    REDUCE_WALK {
        const T *g = dy + w.off[0];
        T *gx = dx + base + w.off[1];
        for (int64_t i = 0; i < inner; i++) gx[i * sx] += g[i * sy];
    }
}

/* y(n) = x(n) */
PAT_SIMD static void SFX(copy)(T *y, const T *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = x[i];
}

/* dx(n) += dy(n) */
PAT_SIMD static void SFX(acc)(T *dx, const T *dy, int64_t n) {
    for (int64_t i = 0; i < n; i++) dx[i] += dy[i];
}

/* y(m, k+n) = [a(m, k) | b(m, n)]; acc: y += that, a NULL part read as zero (the tangent) */
static void SFX(concat)(T *y, const T *a, const T *b, int64_t m, int64_t k, int64_t n,
                        int acc) {
    for (int64_t r = 0; r < m; r++) {
        T *yr = y + r * (k + n);
        if (acc) {
            if (a) for (int64_t i = 0; i < k; i++) yr[i] += a[r * k + i];
            if (b) for (int64_t i = 0; i < n; i++) yr[k + i] += b[r * n + i];
        } else {
            for (int64_t i = 0; i < k; i++) yr[i] = a[r * k + i];
            for (int64_t i = 0; i < n; i++) yr[k + i] = b[r * n + i];
        }
    }
}

/* da(m, k) += dy[:, :k], db(m, n) += dy[:, k:] */
static void SFX(concat_bwd)(T *da, T *db, const T *dy, int64_t m, int64_t k, int64_t n) {
    for (int64_t r = 0; r < m; r++) {
        if (da) for (int64_t i = 0; i < k; i++) da[r * k + i] += dy[r * (k + n) + i];
        if (db) for (int64_t i = 0; i < n; i++) db[r * n + i] += dy[r * (k + n) + k + i];
    }
}
