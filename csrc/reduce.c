/* reduce.c: sum, mean, max, and the data movement ops (reshape, transpose, indexing,
   concatenate), for the forward, reverse and tangent sweeps (their second-order terms are
   zero: the ops are linear, max piecewise so).

   Contract: see reduce_t.h for shapes; this file instantiates the kernels for float and
   double and exposes dtype-dispatching entry points to the sweeps. No state, no
   allocation. */
#include <math.h>

#include <stdlib.h>

#include "pat.h"

#define PAT_TYPED "reduce_t.h"
#include "typed.h"

int pat_k_sum_fwd(int dt, void *y, const void *x, const pat_iter *it, int64_t ny, double alpha) {
    if (!valid_iter(it) || ny < 0) return PAT_EBADARG;
    if (!y || !x) return PAT_ENULL;
    PAT_DISPATCH(dt, sum_fwd_f32(y, x, it, ny, (float)alpha), sum_fwd_f64(y, x, it, ny, alpha));
    return PAT_OK;
}

int pat_k_sum_acc(int dt, void *y, const void *x, const pat_iter *it, int64_t ny,
                  double alpha) {
    if (!valid_iter(it) || ny < 0) return PAT_EBADARG;
    if (!y || !x) return PAT_ENULL;
    PAT_DISPATCH(dt, sum_acc_f32(y, x, it, ny, (float)alpha), sum_acc_f64(y, x, it, ny, alpha));
    return PAT_OK;
}

int pat_k_sum_bwd(int dt, void *dx, const void *dy, const pat_iter *it, double alpha) {
    if (!valid_iter(it)) return PAT_EBADARG;
    if (!dx || !dy) return PAT_ENULL;
    PAT_DISPATCH(dt, sum_bwd_f32(dx, dy, it, (float)alpha), sum_bwd_f64(dx, dy, it, alpha));
    return PAT_OK;
}

int pat_k_max_fwd(int dt, void *y, void *cnt, const void *x, const pat_iter *it, int64_t ny) {
    if (!valid_iter(it) || ny < 0) return PAT_EBADARG;
    if (!y || !cnt || !x) return PAT_ENULL;
    PAT_DISPATCH(dt, max_fwd_f32(y, cnt, x, it, ny), max_fwd_f64(y, cnt, x, it, ny));
    return PAT_OK;
}

int pat_k_max_route(int dt, void *out, const void *in, const void *y, const void *cnt,
                    const void *x, const pat_iter *it, int tangent) {
    if (!valid_iter(it)) return PAT_EBADARG;
    if (!out || !in || !y || !cnt || !x) return PAT_ENULL;
    PAT_DISPATCH(dt, max_route_f32(out, in, y, cnt, x, it, tangent),
                     max_route_f64(out, in, y, cnt, x, it, tangent));
    return PAT_OK;
}

int pat_k_gather(int dt, void *y, const void *x, const pat_iter *it, int64_t base, int acc) {
    if (!valid_iter(it) || base < 0) return PAT_EBADARG;
    if (!y || !x) return PAT_ENULL;
    PAT_DISPATCH(dt, gather_f32(y, x, it, base, acc), gather_f64(y, x, it, base, acc));
    return PAT_OK;
}

int pat_k_gather_bwd(int dt, void *dx, const void *dy, const pat_iter *it, int64_t base) {
    if (!valid_iter(it) || base < 0) return PAT_EBADARG;
    if (!dx || !dy) return PAT_ENULL;
    PAT_DISPATCH(dt, gather_bwd_f32(dx, dy, it, base), gather_bwd_f64(dx, dy, it, base));
    return PAT_OK;
}

int pat_k_copy(int dt, void *y, const void *x, int64_t n) {
    if (n < 0) return PAT_EBADARG;
    if (n == 0) return PAT_OK;
    if (!y || !x) return PAT_ENULL;
    PAT_DISPATCH(dt, copy_f32(y, x, n), copy_f64(y, x, n));
    return PAT_OK;
}

int pat_k_acc(int dt, void *dx, const void *dy, int64_t n) {
    if (n < 0) return PAT_EBADARG;
    if (n == 0) return PAT_OK;
    if (!dx || !dy) return PAT_ENULL;
    PAT_DISPATCH(dt, acc_f32(dx, dy, n), acc_f64(dx, dy, n));
    return PAT_OK;
}

/* y(n) = x(n) converted from dtype sdt to dt, rounded to nearest (NumPy's astype); acc:
   y += that. All the rules of the cast: the forward (acc 0), the tangent ty += cast(tx)
   and the reverse dx += cast(dy) back to the source's dtype (acc 1), as torch's. */
int pat_k_cast(int dt, void *y, int sdt, const void *x, int64_t n, int acc) {
    if ((dt != PAT_F32 && dt != PAT_F64) || (sdt != PAT_F32 && sdt != PAT_F64))
        return PAT_EBADDTYPE;
    if (n < 0) return PAT_EBADARG;
    if (n == 0) return PAT_OK;
    if (!y || !x) return PAT_ENULL;
    if (dt == sdt) {
        if (acc) return pat_k_acc(dt, y, x, n);
        return pat_k_copy(dt, y, x, n);
    }
    if (dt == PAT_F32) {
        float *o = y;
        const double *in = x;
        if (acc) for (int64_t i = 0; i < n; i++) o[i] += (float)in[i];
        else for (int64_t i = 0; i < n; i++) o[i] = (float)in[i];
    } else {
        double *o = y;
        const float *in = x;
        if (acc) for (int64_t i = 0; i < n; i++) o[i] += (double)in[i];
        else for (int64_t i = 0; i < n; i++) o[i] = (double)in[i];
    }
    return PAT_OK;
}

int pat_k_concat(int dt, void *y, const void *a, const void *b, int64_t m, int64_t k,
                 int64_t n, int acc) {
    if (m < 0 || k < 0 || n < 0) return PAT_EBADARG;
    if (m * (k + n) == 0) return PAT_OK;
    if (!y || (!acc && ((k && !a) || (n && !b)))) return PAT_ENULL;
    PAT_DISPATCH(dt, concat_f32(y, a, b, m, k, n, acc), concat_f64(y, a, b, m, k, n, acc));
    return PAT_OK;
}

int pat_k_concat_bwd(int dt, void *da, void *db, const void *dy, int64_t m, int64_t k,
                     int64_t n) {
    if (m < 0 || k < 0 || n < 0) return PAT_EBADARG;
    if (m * (k + n) == 0) return PAT_OK;
    if (!dy) return PAT_ENULL;
    PAT_DISPATCH(dt, concat_bwd_f32(da, db, dy, m, k, n), concat_bwd_f64(da, db, dy, m, k, n));
    return PAT_OK;
}
