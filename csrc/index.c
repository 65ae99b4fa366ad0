/* index.c: the kernels of the indexing ops (the `indexing ops` block of ops.def).

   Contract: both ops read an int64 array `off` of n element offsets (source 1), computed
   and range-checked by Python (pyautotape/ops/indexing.py) from an index of any kind:
   integer arrays, boolean masks, slices, a dim and an index tensor. The kernels check each
   offset again and return PAT_EINDEX instead of reading or writing out of bounds.

     gather       y[i] = x[off[i]]                 (y: n elements, x: k)
                  reverse dx[off[i]] += dy[i]      tangent ty[i] += tx[off[i]]
     scatter_add  y = 0, y[off[i]] += x[i]         (y: k elements, x: n)
                  reverse dx[i] += dy[off[i]]      tangent ty[off[i]] += tx[i]

   Each is the other's transpose; both are linear in x (no second-order term). Repeated
   offsets accumulate in the order i = 0, 1, ..., so every sweep is deterministic and a
   replay equals eager bitwise. No allocation, no state of its own. */
#include <string.h>

#include "pat.h"

#define PAT_TYPED "index_t.h"
#include "typed.h"

int pat_k_take_fwd(int dt, void *y, const void *x, const void *off, int64_t n, int64_t k) {
    if (n < 0 || k < 0) return PAT_EBADARG;
    if (n == 0) return PAT_OK;
    if (!y || !x || !off) return PAT_ENULL;
    int rc = PAT_OK;
    PAT_DISPATCH(dt, rc = take_fwd_f32(y, x, off, n, k), rc = take_fwd_f64(y, x, off, n, k));
    return rc;
}

int pat_k_take_route(int dt, void *out, const void *in, const void *off, int64_t n, int64_t k,
                     int pull) {
    if (n < 0 || k < 0) return PAT_EBADARG;
    if (n == 0 || !out) return PAT_OK;  /* nothing to move, or no gradient wanted */
    if (!in || !off) return PAT_ENULL;
    int rc = PAT_OK;
    PAT_DISPATCH(dt, rc = take_route_f32(out, in, off, n, k, pull),
                 rc = take_route_f64(out, in, off, n, k, pull));
    return rc;
}

int pat_k_scatter_fwd(int dt, void *y, const void *x, const void *off, int64_t n, int64_t k) {
    if (n < 0 || k < 0) return PAT_EBADARG;
    if (k == 0) return n == 0 ? PAT_OK : PAT_EINDEX;
    if (!y) return PAT_ENULL;
    memset(y, 0, (size_t)k * (dt == PAT_F64 ? sizeof(double) : sizeof(float)));
    return pat_k_take_route(dt, y, x, off, n, k, 0);
}
