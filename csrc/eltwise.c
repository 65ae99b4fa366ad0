/* eltwise.c: the elementwise families (unary, broadcasting binary, where) for all four
   sweeps: forward, reverse, tangent (forward mode) and second-order adjoints.

   Contract: see eltwise_t.h for the loops and rules_t.h for each op's math; this file
   instantiates them for float and double and exposes dtype-dispatching entry points to
   the sweeps. Tangent and second-order kernels read a NULL tangent as zero. No state, no
   allocation. */
#include <math.h>

#include "pat.h"

#define PAT_TYPED "eltwise_t.h"
#include "typed.h"

int pat_k_unary_fwd(int op, int dt, void *y, const void *x, int64_t n, double alpha) {
    if (!y || !x) return n == 0 ? PAT_OK : PAT_ENULL;
    PAT_DISPATCH(dt, return unary_fwd_f32(op, y, x, n, (float)alpha),
                     return unary_fwd_f64(op, y, x, n, alpha));
}

int pat_k_unary_bwd(int op, int dt, void *dx, const void *dy, const void *y, const void *x,
                    int64_t n, double alpha) {
    if (n == 0) return PAT_OK;
    if (!dx || !dy) return PAT_ENULL;
    PAT_DISPATCH(dt, return unary_bwd_f32(op, dx, dy, y, x, n, (float)alpha, 0),
                     return unary_bwd_f64(op, dx, dy, y, x, n, alpha, 0));
}

int pat_k_unary_bwd_set(int op, int dt, void *dx, const void *dy, const void *y,
                        const void *x, int64_t n, double alpha) {
    if (n == 0) return PAT_OK;
    if (!dx || !dy) return PAT_ENULL;
    PAT_DISPATCH(dt, return unary_bwd_f32(op, dx, dy, y, x, n, (float)alpha, 1),
                     return unary_bwd_f64(op, dx, dy, y, x, n, alpha, 1));
}

int pat_k_unary_soa(int op, int dt, void *gx, const void *ybar, const void *y, const void *x,
                    const void *tx, int64_t n, double alpha) {
    if (n < 0) return PAT_EBADARG;
    if (n == 0) return PAT_OK;
    if (!gx || !ybar || !tx) return PAT_ENULL;
    PAT_DISPATCH(dt, return unary_soa_f32(op, gx, ybar, y, x, tx, n, (float)alpha),
                     return unary_soa_f64(op, gx, ybar, y, x, tx, n, alpha));
}

int pat_k_binary_fwd(int op, int dt, void *y, const void *a, const void *b,
                     const pat_iter *it, double alpha) {
    if (!valid_iter(it)) return PAT_EBADARG;
    if (!y || !a || !b) return PAT_ENULL;
    PAT_DISPATCH(dt, return binary_fwd_f32(op, y, a, b, it, (float)alpha),
                     return binary_fwd_f64(op, y, a, b, it, alpha));
}

int pat_k_binary_bwd(int op, int dt, void *da, void *db, const void *dy, const void *a,
                     const void *b, const pat_iter *it, double alpha) {
    if (!valid_iter(it)) return PAT_EBADARG;
    if (!dy) return PAT_ENULL;
    PAT_DISPATCH(dt, return binary_first_f32(op, 0, (void *)dy, da, db, a, b, it, (float)alpha),
                     return binary_first_f64(op, 0, (void *)dy, da, db, a, b, it, alpha));
}

int pat_k_binary_tan(int op, int dt, void *ty, const void *ta, const void *tb, const void *a,
                     const void *b, const pat_iter *it, double alpha) {
    if (!valid_iter(it)) return PAT_EBADARG;
    if (!ty) return PAT_ENULL;
    /* the tangents are only read: binary_first writes dy (here ty) in tangent mode */
    PAT_DISPATCH(dt, return binary_first_f32(op, 1, ty, (void *)ta, (void *)tb, a, b, it,
                                             (float)alpha),
                     return binary_first_f64(op, 1, ty, (void *)ta, (void *)tb, a, b, it, alpha));
}

int pat_k_binary_soa(int op, int dt, void *ga, void *gb, const void *ybar, const void *a,
                     const void *b, const void *ta, const void *tb, const pat_iter *it) {
    if (!valid_iter(it)) return PAT_EBADARG;
    if (!ybar) return PAT_ENULL;
    PAT_DISPATCH(dt, return binary_soa_f32(op, ga, gb, ybar, a, b, ta, tb, it),
                     return binary_soa_f64(op, ga, gb, ybar, a, b, ta, tb, it));
}

int pat_k_where_fwd(int dt, void *y, const uint8_t *c, const void *a, const void *b,
                    const pat_iter *it) {
    if (!valid_iter(it)) return PAT_EBADARG;
    if (!y || !c || !a || !b) return PAT_ENULL;
    PAT_DISPATCH(dt, where_fwd_f32(y, c, a, b, it), where_fwd_f64(y, c, a, b, it));
    return PAT_OK;
}

int pat_k_where_bwd(int dt, void *da, void *db, const void *dy, const uint8_t *c,
                    const pat_iter *it) {
    if (!valid_iter(it)) return PAT_EBADARG;
    if (!dy || !c) return PAT_ENULL;
    PAT_DISPATCH(dt, where_bwd_f32(da, db, dy, c, it), where_bwd_f64(da, db, dy, c, it));
    return PAT_OK;
}

int pat_k_where_tan(int dt, void *ty, const uint8_t *c, const void *ta, const void *tb,
                    const pat_iter *it) {
    if (!valid_iter(it)) return PAT_EBADARG;
    if (!ty || !c) return PAT_ENULL;
    PAT_DISPATCH(dt, where_tan_f32(ty, c, ta, tb, it), where_tan_f64(ty, c, ta, tb, it));
    return PAT_OK;
}
