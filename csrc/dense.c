/* dense.c: matmul and linear through OpenBLAS (the scipy-openblas32 wheel, symbols
   prefixed scipy_).

   Contract: row-major, C-contiguous operands; transposes are BLAS flags, never copies.
   Forward kernels overwrite y; backward kernels accumulate (beta = 1) and skip NULL
   gradients, so `linear` computes dW only when W was requested and the bias sum only
   when b was. BLAS takes 32-bit sizes: Python refuses larger dimensions before calling.
   No state: GEMM counts go to the caller's pat_stats. */
#include <cblas.h>

#include "pat.h"

/* C(M,N) = op(A) op(B) + beta C, for either dtype (shared with tangent.c). Leading dimensions are clamped
   to 1 because BLAS rejects 0 (and prints, which an extension must never do). */
void pat_k_gemm(int dt, int ta, int tb, int64_t M, int64_t N, int64_t K, const void *A,
                int64_t lda, const void *B, int64_t ldb, double beta, void *C, int64_t ldc,
                pat_stats *st) {
    if (M == 0 || N == 0) return;
    if (lda < 1) lda = 1;
    if (ldb < 1) ldb = 1;
    if (ldc < 1) ldc = 1;
    const enum CBLAS_TRANSPOSE TA = ta ? CblasTrans : CblasNoTrans;
    const enum CBLAS_TRANSPOSE TB = tb ? CblasTrans : CblasNoTrans;
    if (dt == PAT_F32)
        scipy_cblas_sgemm(CblasRowMajor, TA, TB, (int)M, (int)N, (int)K, 1.0f, A, (int)lda, B,
                          (int)ldb, (float)beta, C, (int)ldc);
    else
        scipy_cblas_dgemm(CblasRowMajor, TA, TB, (int)M, (int)N, (int)K, 1.0, A, (int)lda, B,
                          (int)ldb, beta, C, (int)ldc);
    if (st) {
        st->gemm_calls += 1;
        st->gemm_flops += 2 * M * N * K;
    }
}

static int64_t esize(int dt) { return dt == PAT_F32 ? 4 : 8; }

static void fill_zero(int dt, void *y, int64_t n) {
    if (dt == PAT_F32) for (int64_t i = 0; i < n; i++) ((float *)y)[i] = 0;
    else for (int64_t i = 0; i < n; i++) ((double *)y)[i] = 0;
}

/* y(batch, m, n) = a(batch, m, k) @ b(batch, k, n); it walks the batch axes with element
   strides [y, a, b] (0 broadcasts a or b across a batch axis). */
int pat_k_matmul_fwd(int dt, void *y, const void *a, const void *b, const pat_iter *it,
                     int64_t m, int64_t k, int64_t n, pat_stats *st) {
    if (dt != PAT_F32 && dt != PAT_F64) return PAT_EBADDTYPE;
    if (!valid_iter(it) || m < 0 || k < 0 || n < 0) return PAT_EBADARG;
    if (!y || !a || !b) return PAT_ENULL;
    const int64_t es = esize(dt), inner = walk_inner(it);
    pat_walk w;
    walk_start(&w, it);
    while (walk_next(&w, it))
        for (int64_t i = 0; i < inner; i++) {
            char *yy = (char *)y + (w.off[0] + i * walk_inner_stride(it, 0)) * es;
            const char *aa = (const char *)a + (w.off[1] + i * walk_inner_stride(it, 1)) * es;
            const char *bb = (const char *)b + (w.off[2] + i * walk_inner_stride(it, 2)) * es;
            if (k == 0) fill_zero(dt, yy, m * n);
            else pat_k_gemm(dt, 0, 0, m, n, k, aa, k, bb, n, 0.0, yy, n, st);
        }
    return PAT_OK;
}

/* da(m,k) += dy(m,n) b(k,n)^T;  db(k,n) += a(m,k)^T dy(m,n), per batch. A broadcast
   operand (stride 0) receives the sum over the batch, since the GEMMs accumulate. */
int pat_k_matmul_bwd(int dt, void *da, void *db, const void *dy, const void *a, const void *b,
                     const pat_iter *it, int64_t m, int64_t k, int64_t n, pat_stats *st) {
    if (dt != PAT_F32 && dt != PAT_F64) return PAT_EBADDTYPE;
    if (!valid_iter(it) || m < 0 || k < 0 || n < 0) return PAT_EBADARG;
    if (!dy || (da && !b) || (db && !a)) return PAT_ENULL;
    const int64_t es = esize(dt), inner = walk_inner(it);
    pat_walk w;
    walk_start(&w, it);
    while (walk_next(&w, it))
        for (int64_t i = 0; i < inner; i++) {
            const int64_t oy = w.off[0] + i * walk_inner_stride(it, 0);
            const int64_t oa = w.off[1] + i * walk_inner_stride(it, 1);
            const int64_t ob = w.off[2] + i * walk_inner_stride(it, 2);
            const char *g = (const char *)dy + oy * es;
            if (da) pat_k_gemm(dt, 0, 1, m, k, n, g, n, (const char *)b + ob * es, n, 1.0,
                         (char *)da + oa * es, k, st);
            if (db) pat_k_gemm(dt, 1, 0, k, n, m, (const char *)a + oa * es, k, g, n, 1.0,
                         (char *)db + ob * es, n, st);
        }
    return PAT_OK;
}

/* y(m,n) = x(m,k) w(n,k)^T + b(n): the bias is written first and the GEMM adds onto it
   (beta = 1), which saves a pass over y. */
int pat_k_linear_fwd(int dt, void *y, const void *x, const void *w, const void *b, int64_t m,
                     int64_t k, int64_t n, pat_stats *st) {
    if (dt != PAT_F32 && dt != PAT_F64) return PAT_EBADDTYPE;
    if (m < 0 || k < 0 || n < 0) return PAT_EBADARG;
    if (m * n == 0) return PAT_OK;
    if (!y || !x || !w) return PAT_ENULL;
    if (b) {
        if (dt == PAT_F32)
            for (int64_t r = 0; r < m; r++)
                for (int64_t j = 0; j < n; j++) ((float *)y)[r * n + j] = ((const float *)b)[j];
        else
            for (int64_t r = 0; r < m; r++)
                for (int64_t j = 0; j < n; j++) ((double *)y)[r * n + j] = ((const double *)b)[j];
    } else if (k == 0) {
        fill_zero(dt, y, m * n);
    }
    if (k > 0) pat_k_gemm(dt, 0, 1, m, n, k, x, k, w, k, b ? 1.0 : 0.0, y, n, st);
    return PAT_OK;
}

/* dx(m,k) += dy(m,n) w(n,k);  dw(n,k) += dy(m,n)^T x(m,k);  db(n) += sum over rows of dy */
int pat_k_linear_bwd(int dt, void *dx, void *dw, void *db, const void *dy, const void *x,
                     const void *w, int64_t m, int64_t k, int64_t n, pat_stats *st) {
    if (dt != PAT_F32 && dt != PAT_F64) return PAT_EBADDTYPE;
    if (m < 0 || k < 0 || n < 0) return PAT_EBADARG;
    if (m * n == 0) return PAT_OK;
    if (!dy || (dx && !w) || (dw && !x)) return PAT_ENULL;
    if (dx && k > 0) pat_k_gemm(dt, 0, 0, m, k, n, dy, n, w, k, 1.0, dx, k, st);
    if (dw && k > 0) pat_k_gemm(dt, 1, 0, n, k, m, dy, n, x, k, 1.0, dw, k, st);
    if (db) {
        if (dt == PAT_F32)
            for (int64_t r = 0; r < m; r++)
                for (int64_t j = 0; j < n; j++) ((float *)db)[j] += ((const float *)dy)[r * n + j];
        else
            for (int64_t r = 0; r < m; r++)
                for (int64_t j = 0; j < n; j++) ((double *)db)[j] += ((const double *)dy)[r * n + j];
    }
    return PAT_OK;
}
