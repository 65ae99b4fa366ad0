/* pat.h: what the C sources share and Python never sees.

   Contract: pat_api.h is the ABI; this header adds the standard includes it needs, the
   per-family entry points that the sweeps' switches (exec.c, sweeps.c) call, the checks
   of the checked sweeps (check.c), and the strided walk used by every broadcasting,
   reducing and permuting kernel. Family entry points take a pat_dtype and untyped
   pointers and return a pat_status; the typed kernels behind them are static. */
#ifndef PAT_H
#define PAT_H

#include <stddef.h>
#include <stdint.h>

#include "pat_api.h"

/* ---- SIMD multi-versioning ------------------------------------------------------------
   PAT_SIMD marks a hot elementwise, reduction or optimizer loop: on x86-64 Linux with
   GCC or Clang it is compiled three times (AVX-512F, AVX2, baseline SSE2) and the loader
   picks the best the CPU runs (an ifunc); elsewhere (aarch64, macOS, Windows, sanitizer
   builds: -DPAT_NO_CLONES) it is one plain function. The clones compute the same bits:
   the build has -ffp-contract=off (no a*b+c fused into an FMA), and without -ffast-math
   the compiler vectorises only what it can do in the same order with the same rounding
   (no reassociation of sums, IEEE division and sqrt). Eager and replay call the same
   clone, so replay equals eager bitwise on every machine. */
#if defined(__x86_64__) && defined(__linux__) && (defined(__GNUC__) || defined(__clang__)) && \
    !defined(PAT_NO_CLONES) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define PAT_SIMD __attribute__((target_clones("avx512f", "avx2", "default")))
#endif
#endif
#ifndef PAT_SIMD
#define PAT_SIMD
#endif

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

/* ---- family entry points (eltwise.c, reduce.c, dense.c, loss.c) -------------------
   Every one takes a pat_dtype and untyped pointers and returns a pat_status. Reverse,
   tangent (_tan) and second-order (_soa) kernels accumulate; tangent and second-order
   kernels read a NULL tangent as zero. */

/* elementwise (eltwise.c): y = f(x), y = a (op) b, y = c ? a : b */
int pat_k_unary_fwd(int op, int dt, void *y, const void *x, int64_t n, double alpha);
int pat_k_unary_bwd(int op, int dt, void *dx, const void *dy, const void *y, const void *x,
                    int64_t n, double alpha);
/* dx(n) = 0 + rule(dy): pat_k_unary_bwd into a zeroed dx, in one pass (replay) */
int pat_k_unary_bwd_set(int op, int dt, void *dx, const void *dy, const void *y,
                        const void *x, int64_t n, double alpha);
int pat_k_unary_soa(int op, int dt, void *gx, const void *ybar, const void *y, const void *x,
                    const void *tx, int64_t n, double alpha);
int pat_k_binary_fwd(int op, int dt, void *y, const void *a, const void *b,
                     const pat_iter *it, double alpha);
int pat_k_binary_bwd(int op, int dt, void *da, void *db, const void *dy, const void *a,
                     const void *b, const pat_iter *it, double alpha);
int pat_k_binary_tan(int op, int dt, void *ty, const void *ta, const void *tb, const void *a,
                     const void *b, const pat_iter *it, double alpha);
int pat_k_binary_soa(int op, int dt, void *ga, void *gb, const void *ybar, const void *a,
                     const void *b, const void *ta, const void *tb, const pat_iter *it);
int pat_k_where_fwd(int dt, void *y, const uint8_t *c, const void *a, const void *b,
                    const pat_iter *it);
int pat_k_where_bwd(int dt, void *da, void *db, const void *dy, const uint8_t *c,
                    const pat_iter *it);
int pat_k_where_tan(int dt, void *ty, const uint8_t *c, const void *ta, const void *tb,
                    const pat_iter *it);

/* reductions and data movement (reduce.c) */
int pat_k_sum_fwd(int dt, void *y, const void *x, const pat_iter *it, int64_t ny, double alpha);
int pat_k_sum_acc(int dt, void *y, const void *x, const pat_iter *it, int64_t ny,
                  double alpha);
int pat_k_sum_bwd(int dt, void *dx, const void *dy, const pat_iter *it, double alpha);
int pat_k_max_fwd(int dt, void *y, void *cnt, const void *x, const pat_iter *it, int64_t ny);
/* reverse (tangent = 0): dx += dy / cnt at the maxima; tangent: ty += tx / cnt there */
int pat_k_max_route(int dt, void *out, const void *in, const void *y, const void *cnt,
                    const void *x, const pat_iter *it, int tangent);
/* y = the strided view of x (acc: y += it, the tangent) */
int pat_k_gather(int dt, void *y, const void *x, const pat_iter *it, int64_t base, int acc);
int pat_k_gather_bwd(int dt, void *dx, const void *dy, const pat_iter *it, int64_t base);
int pat_k_copy(int dt, void *y, const void *x, int64_t n);
int pat_k_acc(int dt, void *dx, const void *dy, int64_t n);
int pat_k_cast(int dt, void *y, int sdt, const void *x, int64_t n, int acc);
int pat_k_concat(int dt, void *y, const void *a, const void *b, int64_t m, int64_t k,
                 int64_t n, int acc);
int pat_k_concat_bwd(int dt, void *da, void *db, const void *dy, int64_t m, int64_t k,
                     int64_t n);

/* dense (dense.c). C(M,N) = op(A) op(B) + beta C through OpenBLAS, either dtype; counts
   into st; PAT_ETOOBIG for a size over INT_MAX */
int pat_k_gemm(int dt, int ta, int tb, int64_t M, int64_t N, int64_t K, const void *A,
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
int pat_k_bias_acc(int dt, void *y, const void *b, int64_t m, int64_t n);

/* Scratch bytes for seed-stacked GEMMs. In a dry run (dry != 0) kernels compute nothing
   and only raise `need` to the bytes they would use; otherwise a kernel whose need
   exceeds `cap` returns PAT_EBADARG before touching memory. */
typedef struct {
    char *buf;
    int64_t cap;
    int64_t need;
    int dry;
} pat_scratch;

/* Dense ops over K seeds at once. Operand j of a batched buffer p is p + j * s (in
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

/* E models' linear layers (the stacked_linear op): it walks the members with element
   strides [y, x, w, b] (x 0: a batch shared by all; b 0 or NULL: no bias); member e is
   linear's kernel on its blocks. The _k forms take K seeds with seed strides as above. */
int pat_k_stacked_linear_fwd(int dt, void *y, const void *x, const void *w, const void *b,
                             const pat_iter *it, int64_t m, int64_t k, int64_t n,
                             pat_stats *st);
/* linear (it NULL) or stacked_linear into y, then r(nr) = unary op uop of y, the members a
   few at a time (replay's fusion of the pair; dense.c says when it applies: *fused = 0
   leaves everything untouched) */
int pat_k_linear_unary_fwd(int dt, void *y, const void *x, const void *w, const void *b,
                           const pat_iter *it, int64_t m, int64_t k, int64_t n, int uop,
                           void *r, int64_t nr, double alpha, pat_stats *st, int *fused,
                           int *part);
int pat_k_stacked_linear_bwd(int dt, void *dx, void *dw, void *db, const void *dy,
                             const void *x, const void *w, const pat_iter *it, int64_t m,
                             int64_t k, int64_t n, pat_stats *st);
int pat_k_stacked_linear_tan_k(int dt, int64_t K, void *ty, int64_t sty, const void *tx,
                               int64_t stx, const void *tw, int64_t stw, const void *tb,
                               int64_t stb, const void *x, const void *w, const pat_iter *it,
                               int64_t m, int64_t k, int64_t n, pat_scratch *sc,
                               pat_stats *st);
int pat_k_stacked_linear_bwd_k(int dt, int64_t K, void *dx, int64_t sdx, void *dw,
                               int64_t sdw, void *db, int64_t sdb, const void *dy,
                               int64_t sdy, const void *x, int64_t sx, const void *w,
                               int64_t sw, const pat_iter *it, int64_t m, int64_t k,
                               int64_t n, pat_scratch *sc, pat_stats *st);

/* softmax and losses (loss.c) */
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
int pat_k_log_softmax_tan(int dt, void *ty, const void *tx, const void *y, int64_t m,
                          int64_t k, int64_t n);
int pat_k_xent_tan(int dt, void *ty, const void *tx, const void *probs, const int64_t *labels,
                   int64_t m, int64_t k, int64_t reduction);
int pat_k_mse_tan(int dt, void *ty, const void *ta, const void *tb, const void *diff, int64_t n,
                  int64_t reduction);
int pat_k_softmax_soa(int dt, void *gx, const void *ybar, const void *y, const void *ty,
                      int64_t m, int64_t k, int64_t n, int take_log);
int pat_k_xent_soa(int dt, void *gx, const void *ybar, const void *probs,
                   const int64_t *labels, const void *tx, int64_t m, int64_t k,
                   int64_t reduction);
int pat_k_mse_soa(int dt, void *ga, void *gb, const void *ybar, const void *ta, const void *tb,
                  int64_t n, int64_t reduction);

/* The Python callback of custom ops: defined by cffi from csrc/pat_callbacks.h (extern
   "Python+C"). _pat.c includes this header before that definition, so the compiler checks
   the two signatures agree. */
int pat_custom_callback(int kind, int64_t handle, int64_t nseeds, void *dst, void *s0,
                        void *s1, void *s2);

/* ---- NaN/Inf checks of the sweeps (check.c) ----------------------------------------
   After a rule ran, these scan what it wrote (the output, a tangent, the source
   adjoints), and at the first non-finite value fill *an, blaming the first input of the
   rule that was already non-finite, and return PAT_EANOMALY. K is the number of seeds
   in the batched tables; vals (and adjs) hold one. */
void pat_chk_reset(pat_anomaly *an);
int pat_chk_bwd(const pat_instr *ins, int64_t t, void *const *vals, void *const *grads,
                const int64_t *sizes, int64_t K, pat_anomaly *an);
int pat_chk_tan(const pat_instr *ins, int64_t t, void *const *vals, void *const *tans,
                const int64_t *sizes, int64_t K, pat_anomaly *an);
int pat_chk_hvp(const pat_instr *ins, int64_t t, void *const *vals, void *const *tans,
                void *const *adjs, void *const *atans, const int64_t *sizes, int64_t K,
                pat_anomaly *an);

/* nn (nn.c): dropout with a counter-based generator; st is 3 doubles (key hi, key lo,
   counter); out += in * mask is both the reverse and the tangent rule */
int pat_k_dropout_fwd(int dt, void *y, void *mask, const void *x, const void *st, int64_t n,
                      double p);
int pat_k_dropout_acc(int dt, void *out, const void *in, const void *mask, int64_t n);
/* pick (nn.c): y[r] = x[r, labels[r]] for x (m, k), 0 where labels[r] == ignore; route:
   dx[r, lab] += dy[r] (tangent = 0) or ty[r] += tx[r, lab] (tangent = 1) */
int pat_k_pick_fwd(int dt, void *y, const void *x, const void *labels, int64_t m, int64_t k,
                   int64_t ignore);
int pat_k_pick_route(int dt, void *out, const void *in, const void *labels, int64_t m,
                     int64_t k, int64_t ignore, int tangent);
/* embedding (nn.c): y[r, :] = w[idx[r], :] for w (k, n); route: dw[idx[r], :] += dy[r, :]
   except where idx[r] == skip (tangent = 0), or ty[r, :] += tw[idx[r], :] (tangent = 1) */
int pat_k_rows_fwd(int dt, void *y, const void *w, const void *idx, int64_t m, int64_t k,
                   int64_t n);
int pat_k_rows_route(int dt, void *out, const void *in, const void *idx, int64_t m, int64_t k,
                     int64_t n, int64_t skip, int tangent);

/* indexing (index.c): off is n int64 offsets into a buffer of k elements. take_fwd:
   y[i] = x[off[i]]; take_route: out[i] += in[off[i]] (pull = 1) or out[off[i]] += in[i]
   (pull = 0); scatter_fwd: y (k elements) = 0, then y[off[i]] += x[i] */
int pat_k_take_fwd(int dt, void *y, const void *x, const void *off, int64_t n, int64_t k);
int pat_k_take_route(int dt, void *out, const void *in, const void *off, int64_t n, int64_t k,
                     int pull);
int pat_k_scatter_fwd(int dt, void *y, const void *x, const void *off, int64_t n, int64_t k);

/* ---- helpers shared by the sweeps ---- */
static inline int pat_bad_slot(int32_t s, int64_t nslots) { return s < -1 || s >= nslots; }
static inline void *pat_slot(void *const *table, int32_t s) { return s >= 0 ? table[s] : NULL; }
static inline int64_t pat_size(const int64_t *sizes, int32_t s) { return s >= 0 ? sizes[s] : 0; }
/* The dtype of source i of an instruction (and of its tangent and adjoint): the
   instruction's own, except the source of a cast, whose dtype is the cast's m. */
static inline int pat_src_dtype(const pat_instr *ins, int i) {
    return ins->op == PAT_OP_CAST && i == 0 ? (int)ins->m : ins->dtype;
}

/* Dispatch on dtype to the _f32 / _f64 instance of a typed kernel. */
#define PAT_DISPATCH(dt, call32, call64)          \
    do {                                          \
        if ((dt) == PAT_F32) { call32; }          \
        else if ((dt) == PAT_F64) { call64; }     \
        else return PAT_EBADDTYPE;                \
    } while (0)

/* An ops.def READS token as its pat_reads bits. */
#define PAT_READS_NONE 0
#define PAT_READS_S01 (PAT_READS_S0 | PAT_READS_S1)
#define PAT_READS_S0_OUT (PAT_READS_S0 | PAT_READS_OUT)

#endif
