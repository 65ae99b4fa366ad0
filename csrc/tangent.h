/* tangent.h: the kernel families behind forward mode, batched reverse mode and
   second-order adjoints (tangent.c), and the Python callback of custom ops.

   Contract: C only (Python never reads this header); the sweeps in tape.c call these
   entry points. Every kernel takes a pat_dtype and untyped pointers, returns a pat_status,
   accumulates into its outputs (y += ..., never y = ...) and reads a NULL tangent as
   identically zero. Nothing here allocates: dense kernels that must permute a
   seed-dependent operand use the caller's scratch (see pat_scratch). */
#ifndef PAT_TANGENT_H
#define PAT_TANGENT_H

#include "pat.h"

/* Scratch bytes for seed-stacked GEMMs. In a dry run (dry != 0) kernels compute nothing
   and only raise `need` to the bytes they would use; otherwise a kernel whose need
   exceeds `cap` returns PAT_EBADARG before touching memory. */
typedef struct {
    char *buf;
    int64_t cap;
    int64_t need;
    int dry;
} pat_scratch;

/* Defined by cffi from csrc/pat_callbacks.h (extern "Python+C"). _pat.c includes this
   header before that definition, so the compiler checks the two signatures agree. */
int pat_custom_callback(int kind, int64_t handle, int64_t nseeds, void *dst, void *s0,
                        void *s1, void *s2);

/* ---- tangent rules, one seed: ty += J t ---- */
int pat_k_binary_tan(int op, int dt, void *ty, const void *ta, const void *tb, const void *a,
                     const void *b, const pat_iter *it, double alpha);
int pat_k_where_tan(int dt, void *ty, const uint8_t *c, const void *ta, const void *tb,
                    const pat_iter *it);
int pat_k_max_tan(int dt, void *ty, const void *tx, const void *y, const void *cnt,
                  const void *x, const pat_iter *it);
int pat_k_gather_tan(int dt, void *ty, const void *tx, const pat_iter *it, int64_t base);
int pat_k_concat_tan(int dt, void *ty, const void *ta, const void *tb, int64_t m, int64_t k,
                     int64_t n);
int pat_k_log_softmax_tan(int dt, void *ty, const void *tx, const void *y, int64_t m,
                          int64_t k, int64_t n);
int pat_k_xent_tan(int dt, void *ty, const void *tx, const void *probs, const int64_t *labels,
                   int64_t m, int64_t k, int64_t reduction);
int pat_k_mse_tan(int dt, void *ty, const void *ta, const void *tb, const void *diff, int64_t n,
                  int64_t reduction);
int pat_k_bias_acc(int dt, void *y, const void *b, int64_t m, int64_t n);
int pat_k_rowsum_acc(int dt, void *db, const void *dy, int64_t m, int64_t n);

/* ---- second-order adjoint terms, one seed: g += (dJ[t])^T ybar ---- */
int pat_k_binary_soa(int op, int dt, void *ga, void *gb, const void *ybar, const void *a,
                     const void *b, const void *ta, const void *tb, const pat_iter *it);
int pat_k_unary_soa(int op, int dt, void *gx, const void *ybar, const void *y, const void *x,
                    const void *tx, int64_t n);
int pat_k_softmax_soa(int dt, void *gx, const void *ybar, const void *y, const void *ty,
                      int64_t m, int64_t k, int64_t n, int take_log);
int pat_k_xent_soa(int dt, void *gx, const void *ybar, const void *probs,
                   const int64_t *labels, const void *tx, int64_t m, int64_t k,
                   int64_t reduction);
int pat_k_mse_soa(int dt, void *ga, void *gb, const void *ybar, const void *ta, const void *tb,
                  int64_t n, int64_t reduction);

/* ---- dense ops over K seeds at once. Operand j of a batched buffer p is p + j * s (in
   elements); a seed stride s of 0 means the operand is shared by every seed. At most one
   operand of each product may depend on the seed; all seeds then go through one GEMM. */

/* y_j(m,n) += x_j(m,k) w_j(n,k)^T */
int pat_k_linear_acc_k(int dt, int64_t K, void *y, int64_t sy, const void *x, int64_t sx,
                       const void *w, int64_t sw, int64_t m, int64_t k, int64_t n,
                       pat_scratch *sc, pat_stats *st);
/* dx_j(m,k) += dy_j w_j;  dw_j(n,k) += dy_j^T x_j;  db_j(n) += sum over rows of dy_j */
int pat_k_linear_bwd_k(int dt, int64_t K, void *dx, int64_t sdx, void *dw, int64_t sdw,
                       void *db, int64_t sdb, const void *dy, int64_t sdy, const void *x,
                       int64_t sx, const void *w, int64_t sw, int64_t m, int64_t k, int64_t n,
                       pat_scratch *sc, pat_stats *st);
/* y_j(batch,m,n) += a_j(batch,m,k) @ b_j(batch,k,n); it walks the batch as in matmul */
int pat_k_matmul_acc_k(int dt, int64_t K, void *y, int64_t sy, const void *a, int64_t sa,
                       const void *b, int64_t sb, const pat_iter *it, int64_t m, int64_t k,
                       int64_t n, pat_scratch *sc, pat_stats *st);
/* da_j += dy_j b_j^T;  db_j += a_j^T dy_j, per batch element */
int pat_k_matmul_bwd_k(int dt, int64_t K, void *da, int64_t sda, void *db, int64_t sdb,
                       const void *dy, int64_t sdy, const void *a, int64_t sa, const void *b,
                       int64_t sb, const pat_iter *it, int64_t m, int64_t k, int64_t n,
                       pat_scratch *sc, pat_stats *st);

#endif
