/* loss.c: softmax, log-softmax, cross-entropy and MSE, for the forward, reverse, tangent
   and second-order sweeps.

   Contract: see loss_t.h for shapes; this file instantiates the kernels for float and
   double and exposes dtype-dispatching entry points to the sweeps. No state, no
   allocation. */
#include <math.h>

#include "pat.h"

#define PAT_TYPED "loss_t.h"
#include "typed.h"

static int bad_sizes(int64_t m, int64_t k, int64_t n) { return m < 0 || k < 0 || n < 0; }

int pat_k_softmax_fwd(int dt, void *y, const void *x, int64_t m, int64_t k, int64_t n,
                      int take_log) {
    if (bad_sizes(m, k, n)) return PAT_EBADARG;
    if (m * k * n == 0) return PAT_OK;
    if (!y || !x) return PAT_ENULL;
    PAT_DISPATCH(dt, softmax_fwd_f32(y, x, m, k, n, take_log),
                     softmax_fwd_f64(y, x, m, k, n, take_log));
    return PAT_OK;
}

int pat_k_softmax_bwd(int dt, void *dx, const void *dy, const void *y, int64_t m, int64_t k,
                      int64_t n, int take_log) {
    if (bad_sizes(m, k, n)) return PAT_EBADARG;
    if (m * k * n == 0) return PAT_OK;
    if (!dx || !dy || !y) return PAT_ENULL;
    PAT_DISPATCH(dt, softmax_bwd_f32(dx, dy, y, m, k, n, take_log),
                     softmax_bwd_f64(dx, dy, y, m, k, n, take_log));
    return PAT_OK;
}

int pat_k_xent_fwd(int dt, void *y, void *probs, const void *x, const int64_t *labels,
                   int64_t m, int64_t k, int64_t reduction) {
    if (bad_sizes(m, k, 0) || reduction < 0 || reduction > 2 || (m > 0 && k == 0))
        return PAT_EBADARG;
    if (!y || (m > 0 && (!probs || !x || !labels))) return PAT_ENULL;
    PAT_DISPATCH(dt, return xent_fwd_f32(y, probs, x, labels, m, k, reduction),
                     return xent_fwd_f64(y, probs, x, labels, m, k, reduction));
}

int pat_k_xent_bwd(int dt, void *dx, const void *dy, const void *probs, const int64_t *labels,
                   int64_t m, int64_t k, int64_t reduction) {
    if (bad_sizes(m, k, 0) || reduction < 0 || reduction > 2) return PAT_EBADARG;
    if (m == 0) return PAT_OK;
    if (!dx || !dy || !probs || !labels) return PAT_ENULL;
    PAT_DISPATCH(dt, return xent_bwd_f32(dx, dy, probs, labels, m, k, reduction),
                     return xent_bwd_f64(dx, dy, probs, labels, m, k, reduction));
}

int pat_k_mse_fwd(int dt, void *y, void *diff, const void *a, const void *b, int64_t n,
                  int64_t reduction) {
    if (n < 0 || reduction < 0 || reduction > 2) return PAT_EBADARG;
    if (!y && (reduction != 0 || n > 0)) return PAT_ENULL;
    if (n > 0 && (!diff || !a || !b)) return PAT_ENULL;
    PAT_DISPATCH(dt, mse_fwd_f32(y, diff, a, b, n, reduction),
                     mse_fwd_f64(y, diff, a, b, n, reduction));
    return PAT_OK;
}

int pat_k_mse_bwd(int dt, void *da, void *db, const void *dy, const void *diff, int64_t n,
                  int64_t reduction) {
    if (n < 0 || reduction < 0 || reduction > 2) return PAT_EBADARG;
    if (n == 0) return PAT_OK;
    if (!dy || !diff) return PAT_ENULL;
    PAT_DISPATCH(dt, mse_bwd_f32(da, db, dy, diff, n, reduction),
                     mse_bwd_f64(da, db, dy, diff, n, reduction));
    return PAT_OK;
}

int pat_k_log_softmax_tan(int dt, void *ty, const void *tx, const void *y, int64_t m,
                          int64_t k, int64_t n) {
    if (bad_sizes(m, k, n)) return PAT_EBADARG;
    if (m * k * n == 0) return PAT_OK;
    if (!ty || !tx || !y) return PAT_ENULL;
    PAT_DISPATCH(dt, log_softmax_tan_f32(ty, tx, y, m, k, n), log_softmax_tan_f64(ty, tx, y, m, k, n));
    return PAT_OK;
}

int pat_k_xent_tan(int dt, void *ty, const void *tx, const void *probs, const int64_t *labels,
                   int64_t m, int64_t k, int64_t reduction) {
    if (m < 0 || k < 0 || reduction < 0 || reduction > 2) return PAT_EBADARG;
    if (m == 0) return PAT_OK;
    if (!ty || !tx || !probs || !labels) return PAT_ENULL;
    PAT_DISPATCH(dt, return xent_tan_f32(ty, tx, probs, labels, m, k, reduction),
                     return xent_tan_f64(ty, tx, probs, labels, m, k, reduction));
}

int pat_k_mse_tan(int dt, void *ty, const void *ta, const void *tb, const void *diff, int64_t n,
                  int64_t reduction) {
    if (n < 0 || reduction < 0 || reduction > 2) return PAT_EBADARG;
    if (n == 0) return PAT_OK;
    if (!ty || !diff) return PAT_ENULL;
    PAT_DISPATCH(dt, mse_tan_f32(ty, ta, tb, diff, n, reduction),
                     mse_tan_f64(ty, ta, tb, diff, n, reduction));
    return PAT_OK;
}

int pat_k_softmax_soa(int dt, void *gx, const void *ybar, const void *y, const void *ty,
                      int64_t m, int64_t k, int64_t n, int take_log) {
    if (bad_sizes(m, k, n)) return PAT_EBADARG;
    if (m * k * n == 0) return PAT_OK;
    if (!gx || !ybar || !y || !ty) return PAT_ENULL;
    PAT_DISPATCH(dt, softmax_soa_f32(gx, ybar, y, ty, m, k, n, take_log),
                     softmax_soa_f64(gx, ybar, y, ty, m, k, n, take_log));
    return PAT_OK;
}

int pat_k_xent_soa(int dt, void *gx, const void *ybar, const void *probs,
                   const int64_t *labels, const void *tx, int64_t m, int64_t k,
                   int64_t reduction) {
    if (m < 0 || k < 0 || reduction < 0 || reduction > 2) return PAT_EBADARG;
    if (m == 0) return PAT_OK;
    if (!gx || !ybar || !probs || !labels || !tx) return PAT_ENULL;
    PAT_DISPATCH(dt, return xent_soa_f32(gx, ybar, probs, labels, tx, m, k, reduction),
                     return xent_soa_f64(gx, ybar, probs, labels, tx, m, k, reduction));
}

int pat_k_mse_soa(int dt, void *ga, void *gb, const void *ybar, const void *ta, const void *tb,
                  int64_t n, int64_t reduction) {
    if (n < 0 || reduction < 0 || reduction > 2) return PAT_EBADARG;
    if (n == 0) return PAT_OK;
    if (!ybar) return PAT_ENULL;
    PAT_DISPATCH(dt, mse_soa_f32(ga, gb, ybar, ta, tb, n, reduction),
                     mse_soa_f64(ga, gb, ybar, ta, tb, n, reduction));
    return PAT_OK;
}
