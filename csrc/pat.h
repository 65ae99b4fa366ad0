/* pat.h: what the C sources share and Python never sees.

   Contract: pat_api.h is the ABI; this header adds the standard includes it needs, the
   per-family entry points that tape.c's switches call, and the strided walk used by every
   broadcasting, reducing and permuting kernel. Family entry points take a pat_dtype and
   untyped pointers and return a pat_status; the typed kernels behind them are static. */
#ifndef PAT_H
#define PAT_H

#include <stddef.h>
#include <stdint.h>

#include "pat_api.h"

#define PAT_ABI_VERSION 2

/* Shapes in comments use the names of pat_api.h: y output, x/a/b inputs, d<name> gradients. */

/* ---- the strided walk -------------------------------------------------------------
   Visits the rows of a pat_iter: every index of all axes but the last, keeping for each
   operand the element offset of the row's first element. The caller runs the last axis
   as a plain loop with stride it->stride[op][ndim-1], which the compiler can vectorise
   when the stride is 1. ndim == 0 is one row of one element. */
typedef struct {
    int64_t idx[PAT_MAXDIM];
    int64_t off[PAT_MAXOPERANDS];
    int64_t rows_left;
    int started;
} pat_walk;

static inline int64_t walk_inner(const pat_iter *it) {
    return it->ndim > 0 ? it->shape[it->ndim - 1] : 1;
}

static inline int64_t walk_inner_stride(const pat_iter *it, int op) {
    return it->ndim > 0 ? it->stride[op][it->ndim - 1] : 0;
}

static inline void walk_start(pat_walk *w, const pat_iter *it) {
    w->rows_left = walk_inner(it) > 0 ? 1 : 0;
    for (int64_t d = 0; d + 1 < it->ndim; d++) w->rows_left *= it->shape[d];
    for (int d = 0; d < PAT_MAXDIM; d++) w->idx[d] = 0;
    for (int o = 0; o < PAT_MAXOPERANDS; o++) w->off[o] = 0;
    w->started = 0;
}

/* Moves to the next row; returns 0 when all rows have been visited. */
static inline int walk_next(pat_walk *w, const pat_iter *it) {
    if (w->rows_left <= 0) return 0;
    w->rows_left--;
    if (!w->started) { w->started = 1; return 1; }
    for (int64_t d = it->ndim - 2; d >= 0; d--) {
        w->idx[d]++;
        for (int o = 0; o < PAT_MAXOPERANDS; o++) w->off[o] += it->stride[o][d];
        if (w->idx[d] < it->shape[d]) break;
        for (int o = 0; o < PAT_MAXOPERANDS; o++) w->off[o] -= it->stride[o][d] * it->shape[d];
        w->idx[d] = 0;
    }
    return 1;
}

static inline int valid_iter(const pat_iter *it) {
    if (it == NULL || it->ndim < 0 || it->ndim > PAT_MAXDIM) return 0;
    for (int64_t d = 0; d < it->ndim; d++)
        if (it->shape[d] < 0) return 0;
    return 1;
}

/* ---- family entry points (eltwise.c, reduce.c, dense.c, loss.c) ---- */
int pat_k_unary_fwd(int op, int dt, void *y, const void *x, int64_t n, double alpha);
int pat_k_unary_bwd(int op, int dt, void *dx, const void *dy, const void *y, const void *x,
                    int64_t n, double alpha);
int pat_k_binary_fwd(int op, int dt, void *y, const void *a, const void *b,
                     const pat_iter *it, double alpha);
int pat_k_binary_bwd(int op, int dt, void *da, void *db, const void *dy, const void *a,
                     const void *b, const pat_iter *it, double alpha);
int pat_k_where_fwd(int dt, void *y, const uint8_t *c, const void *a, const void *b,
                    const pat_iter *it);
int pat_k_where_bwd(int dt, void *da, void *db, const void *dy, const uint8_t *c,
                    const pat_iter *it);

int pat_k_sum_fwd(int dt, void *y, const void *x, const pat_iter *it, int64_t ny, double alpha);
int pat_k_sum_acc(int dt, void *y, const void *x, const pat_iter *it, double alpha);
int pat_k_sum_bwd(int dt, void *dx, const void *dy, const pat_iter *it, double alpha);
int pat_k_max_fwd(int dt, void *y, void *cnt, const void *x, const pat_iter *it, int64_t ny);
int pat_k_max_bwd(int dt, void *dx, const void *dy, const void *y, const void *cnt,
                  const void *x, const pat_iter *it);
int pat_k_gather_fwd(int dt, void *y, const void *x, const pat_iter *it, int64_t base);
int pat_k_gather_bwd(int dt, void *dx, const void *dy, const pat_iter *it, int64_t base);
int pat_k_copy(int dt, void *y, const void *x, int64_t n);
int pat_k_acc(int dt, void *dx, const void *dy, int64_t n);
int pat_k_concat_fwd(int dt, void *y, const void *a, const void *b, int64_t m, int64_t k,
                     int64_t n);
int pat_k_concat_bwd(int dt, void *da, void *db, const void *dy, int64_t m, int64_t k,
                     int64_t n);

/* C(M,N) = op(A) op(B) + beta C through OpenBLAS, either dtype; counts into st */
void pat_k_gemm(int dt, int ta, int tb, int64_t M, int64_t N, int64_t K, const void *A,
                int64_t lda, const void *B, int64_t ldb, double beta, void *C, int64_t ldc,
                pat_stats *st);
int pat_k_matmul_fwd(int dt, void *y, const void *a, const void *b, const pat_iter *it,
                     int64_t m, int64_t k, int64_t n, pat_stats *st);
int pat_k_matmul_bwd(int dt, void *da, void *db, const void *dy, const void *a, const void *b,
                     const pat_iter *it, int64_t m, int64_t k, int64_t n, pat_stats *st);
int pat_k_linear_fwd(int dt, void *y, const void *x, const void *w, const void *b, int64_t m,
                     int64_t k, int64_t n, pat_stats *st);
int pat_k_linear_bwd(int dt, void *dx, void *dw, void *db, const void *dy, const void *x,
                     const void *w, int64_t m, int64_t k, int64_t n, pat_stats *st);

int pat_k_softmax_fwd(int dt, void *y, const void *x, int64_t m, int64_t k, int64_t n, int take_log);
int pat_k_softmax_bwd(int dt, void *dx, const void *dy, const void *y, int64_t m, int64_t k,
                      int64_t n, int take_log);
int pat_k_xent_fwd(int dt, void *y, void *probs, const void *x, const int64_t *labels,
                   int64_t m, int64_t k, int64_t reduction);
int pat_k_xent_bwd(int dt, void *dx, const void *dy, const void *probs, const int64_t *labels,
                   int64_t m, int64_t k, int64_t reduction);
int pat_k_mse_fwd(int dt, void *y, void *diff, const void *a, const void *b, int64_t n,
                  int64_t reduction);
int pat_k_mse_bwd(int dt, void *da, void *db, const void *dy, const void *diff, int64_t n,
                  int64_t reduction);

/* Dispatch on dtype to the _f32 / _f64 instance of a typed kernel. */
#define PAT_DISPATCH(dt, call32, call64)          \
    do {                                          \
        if ((dt) == PAT_F32) { call32; }          \
        else if ((dt) == PAT_F64) { call64; }     \
        else return PAT_EBADDTYPE;                \
    } while (0)

#endif
