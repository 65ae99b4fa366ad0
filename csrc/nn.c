/* nn.c: the kernels of the nn ops (the `nn ops` block of ops.def): dropout, and pick (one
   element per row by integer label, the gather under nll_loss and the weighted losses),
   and embedding (a row lookup).

   Contract: dropout's forward reads x (n elements of the op's dtype) and a generator state
   `st` of three doubles (key high 32 bits, key low 32 bits, call counter, all exact
   integers) and writes y and the mask (aux, n elements); it never writes the state (the
   caller advances the counter with a separate recorded op, so a replayed program
   advances it too). The mask is a pure function of (key, counter, element index), so a
   replay draws exactly the masks eager draws. Reverse and tangent: out += in * mask;
   no second-order term (linear in x). No allocation, no state of its own.

   The random numbers: a counter-based generator, splitmix64's finaliser as the mixer:
       base = mix(key XOR mix(counter)),   u_i = (mix(base + (i + 1) * G) >> 11) * 2^-53
   with G = 0x9E3779B97F4A7C15, uniform on [0, 1) in steps of 2^-53; element i is kept
   when u_i >= p, so P(keep) = 1 - p. pyautotape/ops/nn.py holds the same formula in NumPy
   (the op's reference). */
#include <stdint.h>

#include "pat.h"

static inline uint64_t pat_mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static inline double pat_uniform53(uint64_t base, uint64_t i) {
    const uint64_t h = pat_mix64(base + (i + 1) * 0x9E3779B97F4A7C15ULL);
    return (double)(h >> 11) * 0x1.0p-53;
}

#define PAT_TYPED "nn_t.h"
#include "typed.h"

int pat_k_dropout_fwd(int dt, void *y, void *mask, const void *x, const void *st, int64_t n,
                      double p) {
    if (n < 0 || !(p >= 0.0 && p <= 1.0)) return PAT_EBADARG;
    if (n == 0) return PAT_OK;
    if (!y || !mask || !x || !st) return PAT_ENULL;
    const double *s = (const double *)st;
    const uint64_t key = ((uint64_t)s[0] << 32) | (uint64_t)s[1];
    const uint64_t counter = (uint64_t)s[2];
    PAT_DISPATCH(dt, dropout_fwd_f32(y, mask, x, key, counter, n, p),
                 dropout_fwd_f64(y, mask, x, key, counter, n, p));
    return PAT_OK;
}

int pat_k_dropout_acc(int dt, void *out, const void *in, const void *mask, int64_t n) {
    if (n < 0) return PAT_EBADARG;
    if (n == 0 || !out) return PAT_OK;  /* no gradient wanted */
    if (!in || !mask) return PAT_ENULL;
    PAT_DISPATCH(dt, dropout_acc_f32(out, in, mask, n), dropout_acc_f64(out, in, mask, n));
    return PAT_OK;
}

/* pick: one element per row, y[r] = x[r, labels[r]] (0 where labels[r] == ignore); its
   reverse scatters dy back, its tangent picks tx. Linear: no second-order term. */
int pat_k_pick_fwd(int dt, void *y, const void *x, const void *labels, int64_t m, int64_t k,
                   int64_t ignore) {
    if (m < 0 || k < 0) return PAT_EBADARG;
    if (m == 0) return PAT_OK;
    if (!y || !x || !labels) return PAT_ENULL;
    int rc = PAT_OK;
    PAT_DISPATCH(dt, rc = pick_fwd_f32(y, x, labels, m, k, ignore),
                 rc = pick_fwd_f64(y, x, labels, m, k, ignore));
    return rc;
}

int pat_k_pick_route(int dt, void *out, const void *in, const void *labels, int64_t m,
                     int64_t k, int64_t ignore, int tangent) {
    if (m < 0 || k < 0) return PAT_EBADARG;
    if (m == 0 || !out) return PAT_OK;
    if (!in || !labels) return PAT_ENULL;
    int rc = PAT_OK;
    PAT_DISPATCH(dt, rc = pick_route_f32(out, in, labels, m, k, ignore, tangent),
                 rc = pick_route_f64(out, in, labels, m, k, ignore, tangent));
    return rc;
}

/* embedding: row lookup y[r, :] = w[idx[r], :] (w is k x n); the reverse scatter-adds dy
   into the looked-up rows (skipping padding_idx, `skip`, -1 for none), the tangent looks
   up tw. Linear in w: no second-order term. */
int pat_k_rows_fwd(int dt, void *y, const void *w, const void *idx, int64_t m, int64_t k,
                   int64_t n) {
    if (m < 0 || k < 0 || n < 0) return PAT_EBADARG;
    if (m == 0 || n == 0) return PAT_OK;
    if (!y || !w || !idx) return PAT_ENULL;
    int rc = PAT_OK;
    PAT_DISPATCH(dt, rc = rows_fwd_f32(y, w, idx, m, k, n), rc = rows_fwd_f64(y, w, idx, m, k, n));
    return rc;
}

int pat_k_rows_route(int dt, void *out, const void *in, const void *idx, int64_t m, int64_t k,
                     int64_t n, int64_t skip, int tangent) {
    if (m < 0 || k < 0 || n < 0) return PAT_EBADARG;
    if (m == 0 || n == 0 || !out) return PAT_OK;
    if (!in || !idx) return PAT_ENULL;
    int rc = PAT_OK;
    PAT_DISPATCH(dt, rc = rows_route_f32(out, in, idx, m, k, n, skip, tangent),
                 rc = rows_route_f64(out, in, idx, m, k, n, skip, tangent));
    return rc;
}
