/* eltwise.c: elementwise kernels (unary, broadcasting binary, where).

   Contract: see eltwise_t.h for the kernels; this file instantiates them for float and
   double and exposes dtype-dispatching entry points to tape.c. No state, no allocation. */
#include <math.h>

#include "pat.h"

#define T float
#define SFX(name) name##_f32
#define M(fn) fn##f
#include "eltwise_t.h"
#undef T
#undef SFX
#undef M

#define T double
#define SFX(name) name##_f64
#define M(fn) fn
#include "eltwise_t.h"
#undef T
#undef SFX
#undef M

int pat_k_unary_fwd(int op, int dt, void *y, const void *x, int64_t n, double alpha) {
    if (!y || !x) return n == 0 ? PAT_OK : PAT_ENULL;
    PAT_DISPATCH(dt, return unary_fwd_f32(op, y, x, n, (float)alpha),
                     return unary_fwd_f64(op, y, x, n, alpha));
}

int pat_k_unary_bwd(int op, int dt, void *dx, const void *dy, const void *y, const void *x,
                    int64_t n, double alpha) {
    if (n == 0) return PAT_OK;
    if (!dx || !dy) return PAT_ENULL;
    PAT_DISPATCH(dt, return unary_bwd_f32(op, dx, dy, y, x, n, (float)alpha),
                     return unary_bwd_f64(op, dx, dy, y, x, n, alpha));
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
    PAT_DISPATCH(dt, return binary_bwd_f32(op, da, db, dy, a, b, it, (float)alpha),
                     return binary_bwd_f64(op, da, db, dy, a, b, it, alpha));
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
