/* tangent.c: kernels for forward mode (tangents), batched reverse mode and second-order
   adjoints, and the seed-stacked GEMMs behind their dense ops.

   Contract: see tangent.h for the entry points and jvp_t.h for the typed kernels (float
   and double instances here). Batched buffers hold K seeds one after another: a tangent
   of an (m, n) value is a (K, m, n) array. Dense ops push all K seeds through ONE GEMM:
   the seed-dependent operand is either already laid out as a stack of rows/columns (the
   common cases: the K tangent rows of x stacked as (K*m, in) times W^T; x times the K
   stacked tangents of W, transposed by a BLAS flag), or permuted into the caller's
   scratch first, with the product scattered back when the output is not in seed-major
   layout. No state, no allocation, no printing; GEMM counts go to the caller's pat_stats. */
#include <math.h>

#include "tangent.h"

#define T float
#define SFX(name) name##_f32
#define M(fn) fn##f
#include "jvp_t.h"
#undef T
#undef SFX
#undef M

#define T double
#define SFX(name) name##_f64
#define M(fn) fn
#include "jvp_t.h"
#undef T
#undef SFX
#undef M

/* ---- elementwise, reduction and loss families: dtype dispatch ---- */

int pat_k_binary_tan(int op, int dt, void *ty, const void *ta, const void *tb, const void *a,
                     const void *b, const pat_iter *it, double alpha) {
    if (!valid_iter(it)) return PAT_EBADARG;
    if (!ty) return PAT_ENULL;
    PAT_DISPATCH(dt, return binary_tan_f32(op, ty, ta, tb, a, b, it, (float)alpha),
                     return binary_tan_f64(op, ty, ta, tb, a, b, it, alpha));
}

int pat_k_where_tan(int dt, void *ty, const uint8_t *c, const void *ta, const void *tb,
                    const pat_iter *it) {
    if (!valid_iter(it)) return PAT_EBADARG;
    if (!ty || !c) return PAT_ENULL;
    PAT_DISPATCH(dt, where_tan_f32(ty, c, ta, tb, it), where_tan_f64(ty, c, ta, tb, it));
    return PAT_OK;
}

int pat_k_max_tan(int dt, void *ty, const void *tx, const void *y, const void *cnt,
                  const void *x, const pat_iter *it) {
    if (!valid_iter(it)) return PAT_EBADARG;
    if (!ty || !tx || !y || !cnt || !x) return PAT_ENULL;
    PAT_DISPATCH(dt, max_tan_f32(ty, tx, y, cnt, x, it), max_tan_f64(ty, tx, y, cnt, x, it));
    return PAT_OK;
}

int pat_k_gather_tan(int dt, void *ty, const void *tx, const pat_iter *it, int64_t base) {
    if (!valid_iter(it) || base < 0) return PAT_EBADARG;
    if (!ty || !tx) return PAT_ENULL;
    PAT_DISPATCH(dt, gather_tan_f32(ty, tx, it, base), gather_tan_f64(ty, tx, it, base));
    return PAT_OK;
}

int pat_k_concat_tan(int dt, void *ty, const void *ta, const void *tb, int64_t m, int64_t k,
                     int64_t n) {
    if (m < 0 || k < 0 || n < 0) return PAT_EBADARG;
    if (m * (k + n) == 0) return PAT_OK;
    if (!ty) return PAT_ENULL;
    PAT_DISPATCH(dt, concat_tan_f32(ty, ta, tb, m, k, n), concat_tan_f64(ty, ta, tb, m, k, n));
    return PAT_OK;
}

int pat_k_log_softmax_tan(int dt, void *ty, const void *tx, const void *y, int64_t m,
                          int64_t k, int64_t n) {
    if (m < 0 || k < 0 || n < 0) return PAT_EBADARG;
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

int pat_k_bias_acc(int dt, void *y, const void *b, int64_t m, int64_t n) {
    if (m < 0 || n < 0) return PAT_EBADARG;
    if (m * n == 0) return PAT_OK;
    if (!y || !b) return PAT_ENULL;
    PAT_DISPATCH(dt, bias_acc_f32(y, b, m, n), bias_acc_f64(y, b, m, n));
    return PAT_OK;
}

int pat_k_rowsum_acc(int dt, void *db, const void *dy, int64_t m, int64_t n) {
    if (m < 0 || n < 0) return PAT_EBADARG;
    if (m * n == 0) return PAT_OK;
    if (!db || !dy) return PAT_ENULL;
    PAT_DISPATCH(dt, rowsum_acc_f32(db, dy, m, n), rowsum_acc_f64(db, dy, m, n));
    return PAT_OK;
}

int pat_k_binary_soa(int op, int dt, void *ga, void *gb, const void *ybar, const void *a,
                     const void *b, const void *ta, const void *tb, const pat_iter *it) {
    if (!valid_iter(it)) return PAT_EBADARG;
    if (!ybar) return PAT_ENULL;
    PAT_DISPATCH(dt, return binary_soa_f32(op, ga, gb, ybar, a, b, ta, tb, it),
                     return binary_soa_f64(op, ga, gb, ybar, a, b, ta, tb, it));
}

int pat_k_unary_soa(int op, int dt, void *gx, const void *ybar, const void *y, const void *x,
                    const void *tx, int64_t n) {
    if (n < 0) return PAT_EBADARG;
    if (n == 0) return PAT_OK;
    if (!gx || !ybar || !tx) return PAT_ENULL;
    PAT_DISPATCH(dt, return unary_soa_f32(op, gx, ybar, y, x, tx, n),
                     return unary_soa_f64(op, gx, ybar, y, x, tx, n));
}

int pat_k_softmax_soa(int dt, void *gx, const void *ybar, const void *y, const void *ty,
                      int64_t m, int64_t k, int64_t n, int take_log) {
    if (m < 0 || k < 0 || n < 0) return PAT_EBADARG;
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

/* ---- seed-stacked GEMMs ---------------------------------------------------------- */

static int64_t esize(int dt) { return dt == PAT_F32 ? 4 : 8; }

/* Claims `bytes` of scratch: raises the need in a dry run, else checks the capacity. */
static int reserve(pat_scratch *sc, int64_t bytes) {
    if (bytes > sc->need) sc->need = bytes;
    return !sc->dry && bytes > sc->cap;
}

static const char *cp(const void *p, int64_t elems, int dt) {
    return (const char *)p + elems * esize(dt);
}

/* C_j(M,N) += op(A_j)(M,Kd) op(B_j)(Kd,N) for j < K, A_j = A + j*sA, B_j = B + j*sB,
   C_j = C + j*sC (elements). A_j is stored (M, Kd), or (Kd, M) when ta; B_j (Kd, N), or
   (N, Kd) when tb; C_j is (M, N) with row stride N.

   When exactly one of A, B depends on the seed, all K products are one GEMM:
   - A varies: the rows of op(A_0) .. op(A_K-1) stacked, (K*M, Kd), times op(B). The stack
     is A itself when its seeds are consecutive row blocks (no ta), or when M == 1 (a
     transposed column is a row); otherwise op(A_j) are copied into scratch.
   - B varies: op(A) times [op(B_0) | .. | op(B_K-1)], (Kd, K*N). With tb and consecutive
     seeds, that matrix is the (K*N, Kd) stack of B transposed by a BLAS flag; otherwise it
     is built in scratch. Its (M, K*N) product is the seed-major output itself when M == 1,
     and is otherwise scattered into C_j from scratch.
   Otherwise (one seed, or both or neither operand seed-dependent) it is a GEMM per seed. */
static int gemm_k(int dt, int64_t K, int ta, int tb, int64_t M, int64_t N, int64_t Kd,
                  const void *A, int64_t sA, const void *B, int64_t sB, void *C, int64_t sC,
                  pat_scratch *sc, pat_stats *st) {
    const int64_t es = esize(dt), lda = ta ? M : Kd, ldb = tb ? Kd : N;
    if (K <= 0 || M == 0 || N == 0 || Kd == 0) return PAT_OK;
    if (!A || !B || !C) return PAT_ENULL;
    if (K == 1 || (sA == 0) == (sB == 0)) {
        if (!sc->dry)
            for (int64_t j = 0; j < K; j++)
                pat_k_gemm(dt, ta, tb, M, N, Kd, cp(A, j * sA, dt), lda, cp(B, j * sB, dt),
                           ldb, 1.0, (char *)C + j * sC * es, N, st);
        return PAT_OK;
    }
    if (sA != 0) {
        const int direct = (!ta && sA == M * Kd) || (ta && M == 1 && sA == Kd);
        const int64_t nS = direct ? 0 : K * M * Kd;
        const int64_t nQ = sC == M * N ? 0 : K * M * N;
        if (reserve(sc, (nS + nQ) * es)) return PAT_EBADARG;
        if (sc->dry) return PAT_OK;
        const void *S = A;
        if (!direct) {
            PAT_DISPATCH(dt, stack_rows_f32((float *)sc->buf, A, sA, K, M, Kd, ta),
                             stack_rows_f64((double *)sc->buf, A, sA, K, M, Kd, ta));
            S = sc->buf;
        }
        void *Q = nQ ? sc->buf + nS * es : C;
        pat_k_gemm(dt, 0, tb, K * M, N, Kd, S, Kd, B, ldb, nQ ? 0.0 : 1.0, Q, N, st);
        if (nQ)
            PAT_DISPATCH(dt, unstack_rows_f32(C, sC, Q, K, M, N),
                             unstack_rows_f64(C, sC, Q, K, M, N));
        return PAT_OK;
    }
    const int direct = (tb && sB == N * Kd) || (!tb && N == 1 && sB == Kd);
    const int direct_out = M == 1 && sC == N;
    const int64_t nP = direct ? 0 : Kd * K * N;
    const int64_t nQ = direct_out ? 0 : M * K * N;
    if (reserve(sc, (nP + nQ) * es)) return PAT_EBADARG;
    if (sc->dry) return PAT_OK;
    const void *P = B;
    int tp = 1;
    int64_t ldp = Kd;
    if (!direct) {
        PAT_DISPATCH(dt, stack_cols_f32((float *)sc->buf, B, sB, K, N, Kd, tb),
                         stack_cols_f64((double *)sc->buf, B, sB, K, N, Kd, tb));
        P = sc->buf;
        tp = 0;
        ldp = K * N;
    }
    void *Q = direct_out ? C : sc->buf + nP * es;
    pat_k_gemm(dt, ta, tp, M, K * N, Kd, A, lda, P, ldp, direct_out ? 1.0 : 0.0, Q, K * N, st);
    if (!direct_out)
        PAT_DISPATCH(dt, unstack_cols_f32(C, sC, Q, K, M, N), unstack_cols_f64(C, sC, Q, K, M, N));
    return PAT_OK;
}

static int bad_dense(int dt, int64_t K, int64_t m, int64_t k, int64_t n) {
    return (dt != PAT_F32 && dt != PAT_F64) || K < 1 || m < 0 || k < 0 || n < 0;
}

int pat_k_linear_acc_k(int dt, int64_t K, void *y, int64_t sy, const void *x, int64_t sx,
                       const void *w, int64_t sw, int64_t m, int64_t k, int64_t n,
                       pat_scratch *sc, pat_stats *st) {
    if (bad_dense(dt, K, m, k, n)) return PAT_EBADARG;
    return gemm_k(dt, K, 0, 1, m, n, k, x, sx, w, sw, y, sy, sc, st);
}

int pat_k_linear_bwd_k(int dt, int64_t K, void *dx, int64_t sdx, void *dw, int64_t sdw,
                       void *db, int64_t sdb, const void *dy, int64_t sdy, const void *x,
                       int64_t sx, const void *w, int64_t sw, int64_t m, int64_t k, int64_t n,
                       pat_scratch *sc, pat_stats *st) {
    if (bad_dense(dt, K, m, k, n)) return PAT_EBADARG;
    if (!dy || (dx && !w) || (dw && !x)) return PAT_ENULL;
    int rc = PAT_OK;
    if (dx) rc = gemm_k(dt, K, 0, 0, m, k, n, dy, sdy, w, sw, dx, sdx, sc, st);
    if (rc == PAT_OK && dw) rc = gemm_k(dt, K, 1, 0, n, k, m, dy, sdy, x, sx, dw, sdw, sc, st);
    if (rc == PAT_OK && db && !sc->dry)
        for (int64_t j = 0; j < K && rc == PAT_OK; j++)
            rc = pat_k_rowsum_acc(dt, (char *)db + j * sdb * esize(dt), cp(dy, j * sdy, dt), m, n);
    return rc;
}

/* True when the batch folds into the rows: b is shared by every batch element and a, y
   are whole (contiguous over the batch), so y(nb*m, n) = a(nb*m, k) b(k, n). */
static int flat_batch(const pat_iter *it, int64_t m, int64_t k, int64_t n, int64_t *nb) {
    int64_t count = 1;
    for (int64_t d = it->ndim - 1; d >= 0; d--) {
        if (it->shape[d] != 1 &&
            (it->stride[0][d] != m * n * count || it->stride[1][d] != m * k * count ||
             it->stride[2][d] != 0))
            return 0;
        count *= it->shape[d];
    }
    *nb = count;
    return 1;
}

int pat_k_matmul_acc_k(int dt, int64_t K, void *y, int64_t sy, const void *a, int64_t sa,
                       const void *b, int64_t sb, const pat_iter *it, int64_t m, int64_t k,
                       int64_t n, pat_scratch *sc, pat_stats *st) {
    if (bad_dense(dt, K, m, k, n) || !valid_iter(it)) return PAT_EBADARG;
    if (!y || !a || !b) return PAT_ENULL;
    int64_t nb;
    if (flat_batch(it, m, k, n, &nb))
        return gemm_k(dt, K, 0, 0, nb * m, n, k, a, sa, b, sb, y, sy, sc, st);
    const int64_t es = esize(dt), inner = walk_inner(it);
    pat_walk w;
    walk_start(&w, it);
    while (walk_next(&w, it))
        for (int64_t i = 0; i < inner; i++) {
            const int64_t oy = w.off[0] + i * walk_inner_stride(it, 0);
            const int64_t oa = w.off[1] + i * walk_inner_stride(it, 1);
            const int64_t ob = w.off[2] + i * walk_inner_stride(it, 2);
            const int rc = gemm_k(dt, K, 0, 0, m, n, k, cp(a, oa, dt), sa, cp(b, ob, dt), sb,
                                  (char *)y + oy * es, sy, sc, st);
            if (rc != PAT_OK) return rc;
        }
    return PAT_OK;
}

int pat_k_matmul_bwd_k(int dt, int64_t K, void *da, int64_t sda, void *db, int64_t sdb,
                       const void *dy, int64_t sdy, const void *a, int64_t sa, const void *b,
                       int64_t sb, const pat_iter *it, int64_t m, int64_t k, int64_t n,
                       pat_scratch *sc, pat_stats *st) {
    if (bad_dense(dt, K, m, k, n) || !valid_iter(it)) return PAT_EBADARG;
    if (!dy || (da && !b) || (db && !a)) return PAT_ENULL;
    int64_t nb;
    int rc = PAT_OK;
    if (flat_batch(it, m, k, n, &nb)) {
        if (da) rc = gemm_k(dt, K, 0, 1, nb * m, k, n, dy, sdy, b, sb, da, sda, sc, st);
        if (rc == PAT_OK && db)
            rc = gemm_k(dt, K, 1, 0, k, n, nb * m, a, sa, dy, sdy, db, sdb, sc, st);
        return rc;
    }
    const int64_t es = esize(dt), inner = walk_inner(it);
    pat_walk w;
    walk_start(&w, it);
    while (walk_next(&w, it))
        for (int64_t i = 0; i < inner; i++) {
            const int64_t oy = w.off[0] + i * walk_inner_stride(it, 0);
            const int64_t oa = w.off[1] + i * walk_inner_stride(it, 1);
            const int64_t ob = w.off[2] + i * walk_inner_stride(it, 2);
            if (da) rc = gemm_k(dt, K, 0, 1, m, k, n, cp(dy, oy, dt), sdy, cp(b, ob, dt), sb,
                                (char *)da + oa * es, sda, sc, st);
            if (rc == PAT_OK && db)
                rc = gemm_k(dt, K, 1, 0, k, n, m, cp(a, oa, dt), sa, cp(dy, oy, dt), sdy,
                            (char *)db + ob * es, sdb, sc, st);
            if (rc != PAT_OK) return rc;
        }
    return PAT_OK;
}
