/* dense.c: matmul and linear through OpenBLAS (the scipy-openblas32 wheel, symbols
   prefixed scipy_) or, for products of up to GS_MAX_MACS multiply-adds, the small-GEMM
   kernel of gemm_small_t.h; one seed (forward, reverse) or K seeds at once (tangent,
   batched reverse, second order).

   Contract: row-major, C-contiguous operands; for BLAS, transposes are flags, never copies
   (the small-GEMM kernel copies a transposed block into a buffer on its stack instead).
   Forward kernels overwrite y; the others accumulate (beta = 1) and skip NULL gradients,
   so `linear` computes dW only when W was requested and the bias sum only when b was.
   BLAS takes 32-bit sizes: pat_k_gemm refuses any size or leading dimension over INT_MAX
   with PAT_ETOOBIG (the batched sweeps fold K seeds or a batch into one GEMM, which can
   exceed it) before calling BLAS. No state: GEMM counts go to the caller's pat_stats.

   K seeds: batched buffers hold K seeds one after another (a tangent of an (m, n) value
   is a (K, m, n) array), and all K go through ONE GEMM: the seed-dependent operand is
   either already laid out as a stack of rows/columns (the common cases: the K tangent
   rows of x stacked as (K*m, in) times W^T; x times the K stacked tangents of W,
   transposed by a BLAS flag), or permuted into the caller's scratch first, with the
   product scattered back when the output is not in seed-major layout. */
#include <cblas.h>
#include <limits.h>
#include <stdint.h>

#include "pat.h"

/* x86-64 with GCC or clang: kernels with AVX-512 / AVX2 instances chosen at run time
   (-DPAT_PORTABLE_KERNELS builds the portable instances instead, as on other CPUs) */
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__) && \
    !defined(PAT_PORTABLE_KERNELS)
#define GS_X86 1
#else
#define GS_X86 0
#endif

#define PAT_TYPED "dense_t.h"
#include "typed.h"

static int64_t esize(int dt) { return dt == PAT_F32 ? 4 : 8; }

/* ---- the small-GEMM kernel (gemm_small_t.h) --------------------------------------------
   Small products skip OpenBLAS, whose per-call cost (argument checks, buffer set-up,
   packing; 100-500 ns) is most of a tiny MLP's GEMM time: one register-tiled loop nest,
   instantiated per dtype and, on x86-64, per instruction set (AVX-512 or AVX2 with FMA,
   chosen at run time; a CPU with neither keeps OpenBLAS for every size), elsewhere for the
   build's own target (aarch64: NEON). Which kernel runs depends only on the shapes and the
   CPU, so one model alone and the same model inside an ensemble take the same path. */
#include <math.h>


/* The largest inner dimension (the packed panel lives on the stack: GS_KMAX * 16 floats or
   * 8 doubles, 32 KiB) and the largest M*N*K (multiply-adds) the small kernel takes: above
   it OpenBLAS wins, its call cost amortised and its larger register tiles faster (measured
   per shape, bench/RESULTS.md, the ensemble section). */
enum { GS_KMAX = 512, GS_PACK = GS_KMAX * 16 };
#ifndef GS_MAX_MACS
#define GS_MAX_MACS ((int64_t)1 << 14)
#endif

#if GS_X86
#include <immintrin.h>
#define GS_LOAD(p) GS_P(loadu)(p)
#define GS_STORE(p, v) GS_P(storeu)(p, v)
#define GS_SET1(x) GS_P(set1)(x)
#define GS_ZERO() GS_P(setzero)()
#define GS_ADD(a, b) GS_P(add)(a, b)
#define GS_FMADD(a, b, c) GS_P(fmadd)(a, b, c)
/* AVX-512: one register per 16 floats / 8 doubles, 16 rows (16 accumulators keep both
   FMA ports busy through the FMA latency) */
#define GS_ATTR __attribute__((target("avx512f,fma")))
#define GS_MR 16
#define GS_MRB 8
#define T float
#define GS(name) name##_f32_avx512
#define GS_P(op) _mm512_##op##_ps
#define GS_V __m512
#define GS_VL 16
#define GS_NR 16
#define GS_GATHER(pk, B0, bcs, brs, K)                                                   \
    do {                                                                                 \
        const __m512i ix_ = _mm512_mullo_epi32(                                          \
            _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),      \
            _mm512_set1_epi32((int)(bcs)));                                              \
        for (int64_t p_ = 0; p_ < (K); p_++)                                             \
            _mm512_storeu_ps((pk) + p_ * 16, _mm512_i32gather_ps(ix_, (B0) + p_ * (brs), 4)); \
    } while (0)
#include "gemm_small_t.h"
#undef GS_GATHER
#undef T
#undef GS
#undef GS_P
#undef GS_V
#undef GS_VL
#undef GS_NR
#define T double
#define GS(name) name##_f64_avx512
#define GS_P(op) _mm512_##op##_pd
#define GS_V __m512d
#define GS_VL 8
#define GS_NR 8
#define GS_GATHER(pk, B0, bcs, brs, K)                                                   \
    do {                                                                                 \
        const __m256i ix_ = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), \
                                               _mm256_set1_epi32((int)(bcs)));           \
        for (int64_t p_ = 0; p_ < (K); p_++)                                             \
            _mm512_storeu_pd((pk) + p_ * 8, _mm512_i32gather_pd(ix_, (B0) + p_ * (brs), 8)); \
    } while (0)
#include "gemm_small_t.h"
#undef GS_GATHER
#undef T
#undef GS
#undef GS_P
#undef GS_V
#undef GS_VL
#undef GS_NR
#undef GS_ATTR
#undef GS_MR
#undef GS_MRB
/* AVX2 with FMA: two registers per 16 floats / 8 doubles, 6 rows (12 accumulators) */
#define GS_ATTR __attribute__((target("avx2,fma")))
#define GS_MR 6
#define GS_MRB 3
#define T float
#define GS(name) name##_f32_avx2
#define GS_P(op) _mm256_##op##_ps
#define GS_V __m256
#define GS_VL 8
#define GS_NR 16
#include "gemm_small_t.h"
#undef T
#undef GS
#undef GS_P
#undef GS_V
#undef GS_VL
#undef GS_NR
#define T double
#define GS(name) name##_f64_avx2
#define GS_P(op) _mm256_##op##_pd
#define GS_V __m256d
#define GS_VL 4
#define GS_NR 8
#include "gemm_small_t.h"
#undef T
#undef GS
#undef GS_P
#undef GS_V
#undef GS_VL
#undef GS_NR
#undef GS_ATTR
#undef GS_MR
#undef GS_MRB
#undef GS_LOAD
#undef GS_STORE
#undef GS_SET1
#undef GS_ZERO
#undef GS_ADD
#undef GS_FMADD
#else
/* portable: scalar lanes with fma(), which GCC vectorises for the build's target */
#define GS_ATTR
#define GS_MR 6
#define GS_MRB 3
#define GS_VL 1
#define GS_V T
#define GS_LOAD(p) (*(p))
#define GS_STORE(p, v) (*(p) = (v))
#define GS_SET1(x) (x)
#define GS_ZERO() ((T)0)
#define GS_ADD(a, b) ((a) + (b))
#define T float
#define GS(name) name##_f32_base
#define GS_NR 16
#define GS_FMADD(a, b, c) fmaf(a, b, c)
#include "gemm_small_t.h"
#undef T
#undef GS
#undef GS_NR
#undef GS_FMADD
#define T double
#define GS(name) name##_f64_base
#define GS_NR 8
#define GS_FMADD(a, b, c) fma(a, b, c)
#include "gemm_small_t.h"
#undef T
#undef GS
#undef GS_NR
#undef GS_FMADD
#undef GS_ATTR
#undef GS_MR
#undef GS_MRB
#undef GS_VL
#undef GS_V
#undef GS_LOAD
#undef GS_STORE
#undef GS_SET1
#undef GS_ZERO
#undef GS_ADD
#endif

/* The instance for this CPU: 2 AVX-512, 1 AVX2 with FMA, 0 none (OpenBLAS only); 3 the
   portable build */
static int gs_isa(void) {
#if GS_X86
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma")) return 2;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 1;
    return 0;
#else
    return 3;
#endif
}

/* C(M,N) = op(A) op(B) (+ C when beta is 1, + bias(j) when bias is not NULL: beta is then
   0) through the small kernel; 0 when it does not take the call (beta other than 0 or 1,
   sizes over its limits, no instance), which leaves C untouched for OpenBLAS. */
static int gemm_small(int dt, int ta, int tb, int64_t M, int64_t N, int64_t K, const void *A,
                      int64_t lda, const void *B, int64_t ldb, double beta, void *C,
                      int64_t ldc, const void *bias) {
    if ((beta != 0.0 && beta != 1.0) || K > GS_KMAX || M > GS_MAX_MACS || N > GS_MAX_MACS ||
        M * N * K > GS_MAX_MACS)
        return 0;
    const int isa = gs_isa();
    if (isa == 0) return 0;
    const int64_t ars = ta ? 1 : lda, acs = ta ? lda : 1, brs = tb ? 1 : ldb,
                  bcs = tb ? ldb : 1;
    const int acc = beta == 1.0;
    double pk[GS_PACK / 2]; /* GS_PACK floats or GS_PACK / 2 doubles */
#define GS_CALL(sfx, TY)                                                                    \
    gemm_##sfx(M, N, K, (const TY *)A, ars, acs, (const TY *)B, brs, bcs, (TY *)C, ldc, acc, \
               (const TY *)bias, (TY *)pk)
#if GS_X86
    if (dt == PAT_F32) {
        if (isa == 2) GS_CALL(f32_avx512, float);
        else GS_CALL(f32_avx2, float);
    } else {
        if (isa == 2) GS_CALL(f64_avx512, double);
        else GS_CALL(f64_avx2, double);
    }
#else
    if (dt == PAT_F32) GS_CALL(f32_base, float);
    else GS_CALL(f64_base, double);
#endif
#undef GS_CALL
    return 1;
}

/* C(M,N) = op(A) op(B) + beta C (bias NULL) or op(A) op(B) + bias(j) on every row (bias
   given, beta ignored), for either dtype: the small kernel where it takes the sizes, else
   OpenBLAS (the bias written first and the GEMM adding onto it, beta = 1). Leading
   dimensions are clamped to 1 because BLAS rejects 0 (and prints, which an extension must
   never do). */
static int gemm_bias(int dt, int ta, int tb, int64_t M, int64_t N, int64_t K, const void *A,
                     int64_t lda, const void *B, int64_t ldb, double beta, void *C,
                     int64_t ldc, const void *bias, pat_stats *st) {
    if (M < 0 || N < 0 || K < 0) return PAT_EBADARG;
    if (M > INT_MAX || N > INT_MAX || K > INT_MAX || lda > INT_MAX || ldb > INT_MAX ||
        ldc > INT_MAX)
        return PAT_ETOOBIG;
    if (M == 0 || N == 0) return PAT_OK;
    if (lda < 1) lda = 1;
    if (ldb < 1) ldb = 1;
    if (ldc < 1) ldc = 1;
    if (st) {
        st->gemm_calls += 1;
        st->gemm_flops += 2 * M * N * K;
    }
    if (bias) beta = 0.0;
    if (gemm_small(dt, ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc, bias)) return PAT_OK;
    if (bias) {
        PAT_DISPATCH(dt, bias_rows_f32(C, bias, M, N, 0), bias_rows_f64(C, bias, M, N, 0));
        beta = 1.0;
    }
    const enum CBLAS_TRANSPOSE TA = ta ? CblasTrans : CblasNoTrans;
    const enum CBLAS_TRANSPOSE TB = tb ? CblasTrans : CblasNoTrans;
    if (dt == PAT_F32)
        scipy_cblas_sgemm(CblasRowMajor, TA, TB, (int)M, (int)N, (int)K, 1.0f, A, (int)lda, B,
                          (int)ldb, (float)beta, C, (int)ldc);
    else
        scipy_cblas_dgemm(CblasRowMajor, TA, TB, (int)M, (int)N, (int)K, 1.0, A, (int)lda, B,
                          (int)ldb, beta, C, (int)ldc);
    return PAT_OK;
}

/* C(M,N) = op(A) op(B) + beta C, for either dtype */
int pat_k_gemm(int dt, int ta, int tb, int64_t M, int64_t N, int64_t K, const void *A,
               int64_t lda, const void *B, int64_t ldb, double beta, void *C, int64_t ldc,
               pat_stats *st) {
    return gemm_bias(dt, ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc, NULL, st);
}

static void fill_zero(int dt, void *y, int64_t n) {
    if (dt == PAT_F32) for (int64_t i = 0; i < n; i++) ((float *)y)[i] = 0;
    else for (int64_t i = 0; i < n; i++) ((double *)y)[i] = 0;
}

/* db(n) += sum over the rows of dy(m, n) */
static int rowsum_acc(int dt, void *db, const void *dy, int64_t m, int64_t n) {
    if (m * n == 0) return PAT_OK;
#if GS_X86
    if (gs_isa() == 2) {
        PAT_DISPATCH(dt, rowsum_acc_avx512_f32(db, dy, m, n), rowsum_acc_avx512_f64(db, dy, m, n));
        return PAT_OK;
    }
#endif
    PAT_DISPATCH(dt, rowsum_acc_f32(db, dy, m, n), rowsum_acc_f64(db, dy, m, n));
    return PAT_OK;
}

/* Visits every batch element of a matmul: `it` walks the batch axes with element strides
   [y, a, b]; the body starts with MATMUL_OFFSETS, the element offsets oy, oa, ob. */
#define MATMUL_WALK(it)                   \
    pat_walk w;                           \
    walk_start(&w, it);                   \
    while (walk_next(&w, it))             \
        for (int64_t i = 0; i < walk_inner(it); i++)
#define MATMUL_OFFSETS(it)                                           \
    const int64_t oy = w.off[0] + i * walk_inner_stride(it, 0);     \
    const int64_t oa = w.off[1] + i * walk_inner_stride(it, 1);     \
    const int64_t ob = w.off[2] + i * walk_inner_stride(it, 2)

/* y(batch, m, n) = a(batch, m, k) @ b(batch, k, n); it walks the batch axes with element
   strides [y, a, b] (0 broadcasts a or b across a batch axis). */
int pat_k_matmul_fwd(int dt, void *y, const void *a, const void *b, const pat_iter *it,
                     int64_t m, int64_t k, int64_t n, pat_stats *st) {
    if (dt != PAT_F32 && dt != PAT_F64) return PAT_EBADDTYPE;
    if (!valid_iter(it) || m < 0 || k < 0 || n < 0) return PAT_EBADARG;
    if (!y || !a || !b) return PAT_ENULL;
    const int64_t es = esize(dt);
    MATMUL_WALK(it) {
        MATMUL_OFFSETS(it);
        char *yy = (char *)y + oy * es;
        int rc = PAT_OK;
        if (k == 0) fill_zero(dt, yy, m * n);
        else rc = pat_k_gemm(dt, 0, 0, m, n, k, (const char *)a + oa * es, k,
                             (const char *)b + ob * es, n, 0.0, yy, n, st);
        if (rc != PAT_OK) return rc;
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
    const int64_t es = esize(dt);
    MATMUL_WALK(it) {
        MATMUL_OFFSETS(it);
        const char *g = (const char *)dy + oy * es;
        int rc = PAT_OK;
        if (da) rc = pat_k_gemm(dt, 0, 1, m, k, n, g, n, (const char *)b + ob * es, n, 1.0,
                                (char *)da + oa * es, k, st);
        if (db && rc == PAT_OK)
            rc = pat_k_gemm(dt, 1, 0, k, n, m, (const char *)a + oa * es, k, g, n, 1.0,
                            (char *)db + ob * es, n, st);
        if (rc != PAT_OK) return rc;
    }
    return PAT_OK;
}

/* y(m,n) = x(m,k) w(n,k)^T + b(n): the small kernel adds the bias as it stores y; through
   OpenBLAS the bias is written first and the GEMM adds onto it (beta = 1). Either way an
   element is (x w^T)(i,j) + b(j), one rounding after the product. */
int pat_k_linear_fwd(int dt, void *y, const void *x, const void *w, const void *b, int64_t m,
                     int64_t k, int64_t n, pat_stats *st) {
    if (dt != PAT_F32 && dt != PAT_F64) return PAT_EBADDTYPE;
    if (m < 0 || k < 0 || n < 0) return PAT_EBADARG;
    if (m * n == 0) return PAT_OK;
    if (!y || !x || !w) return PAT_ENULL;
    if (k == 0) {
        if (b) PAT_DISPATCH(dt, bias_rows_f32(y, b, m, n, 0), bias_rows_f64(y, b, m, n, 0));
        else fill_zero(dt, y, m * n);
        return PAT_OK;
    }
    return gemm_bias(dt, 0, 1, m, n, k, x, k, w, k, 0.0, y, n, b, st);
}

/* dx(m,k) += dy(m,n) w(n,k);  dw(n,k) += dy(m,n)^T x(m,k);  db(n) += sum over rows of dy */
int pat_k_linear_bwd(int dt, void *dx, void *dw, void *db, const void *dy, const void *x,
                     const void *w, int64_t m, int64_t k, int64_t n, pat_stats *st) {
    if (dt != PAT_F32 && dt != PAT_F64) return PAT_EBADDTYPE;
    if (m < 0 || k < 0 || n < 0) return PAT_EBADARG;
    if (m * n == 0) return PAT_OK;
    if (!dy || (dx && !w) || (dw && !x)) return PAT_ENULL;
    int rc = PAT_OK;
    if (dx && k > 0) rc = pat_k_gemm(dt, 0, 0, m, k, n, dy, n, w, k, 1.0, dx, k, st);
    if (dw && k > 0 && rc == PAT_OK) rc = pat_k_gemm(dt, 1, 0, n, k, m, dy, n, x, k, 1.0, dw, k, st);
    if (db && rc == PAT_OK) rc = rowsum_acc(dt, db, dy, m, n);
    return rc;
}

int pat_k_bias_acc(int dt, void *y, const void *b, int64_t m, int64_t n) {
    if (m < 0 || n < 0) return PAT_EBADARG;
    if (m * n == 0) return PAT_OK;
    if (!y || !b) return PAT_ENULL;
    PAT_DISPATCH(dt, bias_rows_f32(y, b, m, n, 1), bias_rows_f64(y, b, m, n, 1));
    return PAT_OK;
}

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
        int rc = PAT_OK;
        for (int64_t j = 0; !sc->dry && j < K && rc == PAT_OK; j++)
            rc = pat_k_gemm(dt, ta, tb, M, N, Kd, cp(A, j * sA, dt), lda, cp(B, j * sB, dt),
                            ldb, 1.0, (char *)C + j * sC * es, N, st);
        return rc;
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
        const int rc = pat_k_gemm(dt, 0, tb, K * M, N, Kd, S, Kd, B, ldb, nQ ? 0.0 : 1.0, Q, N, st);
        if (rc != PAT_OK) return rc;
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
    const int rc = pat_k_gemm(dt, ta, tp, M, K * N, Kd, A, lda, P, ldp, direct_out ? 1.0 : 0.0,
                              Q, K * N, st);
    if (rc != PAT_OK) return rc;
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
            rc = rowsum_acc(dt, (char *)db + j * sdb * esize(dt), cp(dy, j * sdy, dt), m, n);
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
    const int64_t es = esize(dt);
    MATMUL_WALK(it) {
        MATMUL_OFFSETS(it);
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
    const int64_t es = esize(dt);
    MATMUL_WALK(it) {
        MATMUL_OFFSETS(it);
        if (da) rc = gemm_k(dt, K, 0, 1, m, k, n, cp(dy, oy, dt), sdy, cp(b, ob, dt), sb,
                            (char *)da + oa * es, sda, sc, st);
        if (rc == PAT_OK && db)
            rc = gemm_k(dt, K, 1, 0, k, n, m, cp(a, oa, dt), sa, cp(dy, oy, dt), sdy,
                        (char *)db + ob * es, sdb, sc, st);
        if (rc != PAT_OK) return rc;
    }
    return PAT_OK;
}

/* ---- stacked linear: E models' linear layers in one call ------------------------------
   y_e(m,n) = x_e(m,k) w_e(n,k)^T + b_e(n) for every member e that `it` walks, with element
   strides [y, x, w, b]: x's stride is 0 when every member reads the same batch (its
   adjoint then receives the sum of the members' dx, as the GEMMs accumulate), b's when
   there is no bias (b NULL). Each member runs exactly the one-model kernel on its blocks
   (linear's GEMMs with linear's sizes and leading dimensions), so a member's numbers are
   bitwise those of the same model computed alone. K seeds (tangents, batched reverse,
   second order) go through gemm_k per member, as linear's do. */

/* p + o elements, NULL staying NULL (no arithmetic on a null pointer) */
static void *at_off(const void *p, int64_t o, int dt) {
    return p ? (char *)p + o * esize(dt) : NULL;
}

#define STACK_OFFSETS(it)                                                  \
    MATMUL_OFFSETS(it);                                                    \
    const int64_t oc = w.off[3] + i * walk_inner_stride(it, 3)

static int bad_stack(int dt, const pat_iter *it, int64_t m, int64_t k, int64_t n) {
    if (dt != PAT_F32 && dt != PAT_F64) return PAT_EBADDTYPE;
    if (!valid_iter(it) || m < 0 || k < 0 || n < 0) return PAT_EBADARG;
    return PAT_OK;
}

/* y_e = x_e w_e^T + b_e */
int pat_k_stacked_linear_fwd(int dt, void *y, const void *x, const void *wt, const void *b,
                             const pat_iter *it, int64_t m, int64_t k, int64_t n,
                             pat_stats *st) {
    int rc = bad_stack(dt, it, m, k, n);
    if (rc != PAT_OK) return rc;
    if (!y || !x || !wt) return PAT_ENULL;
    MATMUL_WALK(it) {
        STACK_OFFSETS(it);
        rc = pat_k_linear_fwd(dt, at_off(y, oy, dt), at_off(x, oa, dt), at_off(wt, ob, dt),
                              at_off(b, oc, dt), m, k, n, st);
        if (rc != PAT_OK) return rc;
    }
    return PAT_OK;
}

/* dx_e += dy_e w_e;  dw_e += dy_e^T x_e;  db_e += sum over the rows of dy_e */
int pat_k_stacked_linear_bwd(int dt, void *dx, void *dw, void *db, const void *dy,
                             const void *x, const void *wt, const pat_iter *it, int64_t m,
                             int64_t k, int64_t n, pat_stats *st) {
    int rc = bad_stack(dt, it, m, k, n);
    if (rc != PAT_OK) return rc;
    if (!dy || (dx && !wt) || (dw && !x)) return PAT_ENULL;
    MATMUL_WALK(it) {
        STACK_OFFSETS(it);
        rc = pat_k_linear_bwd(dt, at_off(dx, oa, dt), at_off(dw, ob, dt), at_off(db, oc, dt),
                              at_off(dy, oy, dt), at_off(x, oa, dt), at_off(wt, ob, dt), m, k,
                              n, st);
        if (rc != PAT_OK) return rc;
    }
    return PAT_OK;
}

/* K seeds: ty_e += tx_e w_e^T + x_e tw_e^T + tb_e. A batched buffer holds its seeds one
   after another (seed stride: the slot's size s*), member e at its offset in each. */
int pat_k_stacked_linear_tan_k(int dt, int64_t K, void *ty, int64_t sty, const void *tx,
                               int64_t stx, const void *tw, int64_t stw, const void *tb,
                               int64_t stb, const void *x, const void *wt, const pat_iter *it,
                               int64_t m, int64_t k, int64_t n, pat_scratch *sc,
                               pat_stats *st) {
    int rc = bad_stack(dt, it, m, k, n);
    if (rc != PAT_OK) return rc;
    if (K < 1) return PAT_EBADARG;
    if (!ty || (tx && !wt) || (tw && !x)) return PAT_ENULL;
    MATMUL_WALK(it) {
        STACK_OFFSETS(it);
        void *tye = at_off(ty, oy, dt);
        if (tx) rc = pat_k_linear_acc_k(dt, K, tye, sty, at_off(tx, oa, dt), stx,
                                        at_off(wt, ob, dt), 0, m, k, n, sc, st);
        if (rc == PAT_OK && tw)
            rc = pat_k_linear_acc_k(dt, K, tye, sty, at_off(x, oa, dt), 0, at_off(tw, ob, dt),
                                    stw, m, k, n, sc, st);
        for (int64_t j = 0; tb && !sc->dry && j < K && rc == PAT_OK; j++)
            rc = pat_k_bias_acc(dt, at_off(ty, j * sty + oy, dt), at_off(tb, j * stb + oc, dt),
                                m, n);
        if (rc != PAT_OK) return rc;
    }
    return PAT_OK;
}

/* K cotangents: dx_e += dy_e w_e;  dw_e += dy_e^T x_e;  db_e += row sums of dy_e, each
   operand with its seed stride (0: one seed shared by all, as the second-order rule
   passes the value's adjoint and the values) */
int pat_k_stacked_linear_bwd_k(int dt, int64_t K, void *dx, int64_t sdx, void *dw,
                               int64_t sdw, void *db, int64_t sdb, const void *dy,
                               int64_t sdy, const void *x, int64_t sx, const void *wt,
                               int64_t sw, const pat_iter *it, int64_t m, int64_t k,
                               int64_t n, pat_scratch *sc, pat_stats *st) {
    int rc = bad_stack(dt, it, m, k, n);
    if (rc != PAT_OK) return rc;
    if (K < 1) return PAT_EBADARG;
    if (!dy || (dx && !wt) || (dw && !x)) return PAT_ENULL;
    MATMUL_WALK(it) {
        STACK_OFFSETS(it);
        rc = pat_k_linear_bwd_k(dt, K, at_off(dx, oa, dt), sdx, at_off(dw, ob, dt), sdw,
                                at_off(db, oc, dt), sdb, at_off(dy, oy, dt), sdy,
                                at_off(x, oa, dt), sx, at_off(wt, ob, dt), sw, m, k, n, sc, st);
        if (rc != PAT_OK) return rc;
    }
    return PAT_OK;
}
