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
   product scattered back when the output is not in seed-major layout.

   stacked_linear (E members) hands its members to the small kernel a few at a time, one
   call for their E products of one shape (gemm_bias_n: the checks, the instance and the
   orientation settled once); each product is bitwise the one linear computes alone. */
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
#define T double
#define GS(name) name##_f64_avx2
#define GS_P(op) _mm256_##op##_pd
#define GS_V __m256d
#define GS_VL 4
#define GS_NR 8
#include "gemm_small_t.h"
#else
/* portable: scalar lanes with fma(), which GCC vectorises for the build's target */
#define GS_ATTR
#define GS_MR 6
#define GS_MRB 3
#define GS_LOAD(p) (*(p))
#define GS_STORE(p, v) (*(p) = (v))
#define GS_SET1(x) (x)
#define GS_ZERO() ((T)0)
#define GS_ADD(a, b) ((a) + (b))
#define T float
#define GS(name) name##_f32_base
#define GS_V T
#define GS_VL 1
#define GS_NR 16
#define GS_FMADD(a, b, c) fmaf(a, b, c)
#include "gemm_small_t.h"
#undef GS_FMADD
#define T double
#define GS(name) name##_f64_base
#define GS_V T
#define GS_VL 1
#define GS_NR 8
#define GS_FMADD(a, b, c) fma(a, b, c)
#include "gemm_small_t.h"
#endif
/* the instruction set's macros, shared by its two instances */
#undef GS_ATTR
#undef GS_MR
#undef GS_MRB
#undef GS_LOAD
#undef GS_STORE
#undef GS_SET1
#undef GS_ZERO
#undef GS_ADD
#undef GS_FMADD

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

/* C_e(M,N) = op(A_e) op(B_e) (+ C_e when beta is 1, + bias_e(j) when bias is not NULL:
   beta is then 0) for e < E through the small kernel; 0 when it does not take the calls
   (beta other than 0 or 1, sizes over its limits, no instance), which leaves every C_e
   untouched for OpenBLAS. The checks, the instance and the orientation are settled once
   for the E products (they depend only on the shape, the strides and the CPU). */
static int gemm_small_n(int dt, int ta, int tb, int64_t M, int64_t N, int64_t K, int64_t lda,
                        int64_t ldb, int64_t ldc, double beta, int64_t E,
                        const void *const *A, const void *const *B, void *const *C,
                        const void *const *bias) {
    if ((beta != 0.0 && beta != 1.0) || K > GS_KMAX || M > GS_MAX_MACS || N > GS_MAX_MACS ||
        M * N * K > GS_MAX_MACS)
        return 0;
    const int isa = gs_isa();
    if (isa == 0) return 0;
    const int64_t ars = ta ? 1 : lda, acs = ta ? lda : 1, brs = tb ? 1 : ldb,
                  bcs = tb ? ldb : 1;
    const int acc = beta == 1.0;
    double pk[GS_PACK / 2]; /* GS_PACK floats or GS_PACK / 2 doubles */
#define GS_CALL(sfx, TY)                                                                   \
    gemm_##sfx(E, M, N, K, (const TY *const *)A, ars, acs, (const TY *const *)B, brs, bcs, \
               (TY *const *)C, ldc, acc, (const TY *const *)bias, (TY *)pk)
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

/* The checks of a GEMM before any kernel: PAT_OK to go on, *skip set when there is
   nothing to compute (M or N is 0); leading dimensions are clamped to 1 because BLAS
   rejects 0 (and prints, which an extension must never do). */
static int gemm_check(int64_t M, int64_t N, int64_t K, int64_t *lda, int64_t *ldb,
                      int64_t *ldc, int *skip) {
    if (M < 0 || N < 0 || K < 0) return PAT_EBADARG;
    if (M > INT_MAX || N > INT_MAX || K > INT_MAX || *lda > INT_MAX || *ldb > INT_MAX ||
        *ldc > INT_MAX)
        return PAT_ETOOBIG;
    *skip = M == 0 || N == 0;
    if (*lda < 1) *lda = 1;
    if (*ldb < 1) *ldb = 1;
    if (*ldc < 1) *ldc = 1;
    return PAT_OK;
}

/* C(M,N) = op(A) op(B) + beta C (bias NULL) or op(A) op(B) + bias(j) on every row (bias
   given, beta ignored), for either dtype: the small kernel where it takes the sizes, else
   OpenBLAS (the bias written first and the GEMM adding onto it, beta = 1). */
static int gemm_bias(int dt, int ta, int tb, int64_t M, int64_t N, int64_t K, const void *A,
                     int64_t lda, const void *B, int64_t ldb, double beta, void *C,
                     int64_t ldc, const void *bias, pat_stats *st) {
    int skip;
    const int rc = gemm_check(M, N, K, &lda, &ldb, &ldc, &skip);
    if (rc != PAT_OK || skip) return rc;
    if (st) {
        st->gemm_calls += 1;
        st->gemm_flops += 2 * M * N * K;
    }
    if (bias) beta = 0.0;
    if (gemm_small_n(dt, ta, tb, M, N, K, lda, ldb, ldc, beta, 1, &A, &B, &C,
                     bias ? &bias : NULL))
        return PAT_OK;
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

/* gemm_bias for E products of one shape, C_e = op(A_e) op(B_e) (+ beta C_e or + bias_e),
   in order e = 0 .. E-1 (C_e may be one buffer for every e: it then receives the sum, as
   E calls of gemm_bias would give it): each product is bitwise gemm_bias's; the checks
   and the small kernel's set-up are paid once. */
static int gemm_bias_n(int dt, int ta, int tb, int64_t M, int64_t N, int64_t K, int64_t lda,
                       int64_t ldb, int64_t ldc, double beta, int64_t E,
                       const void *const *A, const void *const *B, void *const *C,
                       const void *const *bias, pat_stats *st) {
    int skip;
    int rc = gemm_check(M, N, K, &lda, &ldb, &ldc, &skip);
    if (rc != PAT_OK || skip || E <= 0) return rc;
    if (gemm_small_n(dt, ta, tb, M, N, K, lda, ldb, ldc, bias ? 0.0 : beta, E, A, B, C,
                     bias)) {
        if (st) {
            st->gemm_calls += E;
            st->gemm_flops += 2 * M * N * K * E;
        }
        return PAT_OK;
    }
    for (int64_t e = 0; e < E && rc == PAT_OK; e++)
        rc = gemm_bias(dt, ta, tb, M, N, K, A[e], lda, B[e], ldb, beta, C[e], ldc,
                       bias ? bias[e] : NULL, st);
    return rc;
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

#if GS_X86
/* rowsum_acc_n (dense_t.h) with AVX-512: the sums of G <= 4 members at once, 16 columns
   each (two registers of 8 doubles per member; a masked load and store for a last, narrow
   block). Per column it is the same chain, s = 0; s += (double)dy(r, j) in row order;
   db(j) += (T)s, so the bits are those of the plain loop; the G members' chains are
   independent, which hides the add latency that one short sum of 16 columns is bound by.
   RS_LOAD2(p, mk, lo, hi): the 16 (masked) elements at p as two vectors of doubles;
   RS_STORE2(p, mk, lo, hi): p += (T)(lo, hi) on the masked lanes. */
#define RS_GROUP(NAME, T, RS_LOAD2, RS_STORE2)                                              \
    static inline __attribute__((target("avx512f"), always_inline)) void NAME(             \
        int G, T *const *db, const T *const *dy, int64_t m, int64_t n) {                  \
        for (int64_t j = 0; j < n; j += 16) {                                              \
            const int64_t w = n - j < 16 ? n - j : 16;                                     \
            const __mmask16 mk = (__mmask16)((1u << w) - 1u);                              \
            __m512d lo[4], hi[4];                                                          \
            for (int g = 0; g < 4; g++) lo[g] = hi[g] = _mm512_setzero_pd();               \
            for (int64_t r = 0; r < m; r++)                                                \
                for (int g = 0; g < 4; g++) {                                              \
                    if (g >= G) break;                                                     \
                    __m512d a, b;                                                          \
                    RS_LOAD2(dy[g] + r * n + j, mk, a, b);                                 \
                    lo[g] = _mm512_add_pd(lo[g], a);                                       \
                    hi[g] = _mm512_add_pd(hi[g], b);                                       \
                }                                                                          \
            for (int g = 0; g < G; g++) RS_STORE2(db[g] + j, mk, lo[g], hi[g]);            \
        }                                                                                  \
    }
#define RS_LOAD2_F32(p, mk, a, b)                                                  \
    do {                                                                           \
        const __m512 v_ = _mm512_maskz_loadu_ps(mk, p);                            \
        a = _mm512_cvtps_pd(_mm512_castps512_ps256(v_));                           \
        b = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v_), 1))); \
    } while (0)
#define RS_STORE2_F32(p, mk, a, b)                                                          \
    do {                                                                                    \
        const __m512d s_ = _mm512_insertf64x4(                                              \
            _mm512_castpd256_pd512(_mm256_castps_pd(_mm512_cvtpd_ps(a))),                   \
            _mm256_castps_pd(_mm512_cvtpd_ps(b)), 1);                                       \
        _mm512_mask_storeu_ps(p, mk, _mm512_add_ps(_mm512_maskz_loadu_ps(mk, p),           \
                                                   _mm512_castpd_ps(s_)));                  \
    } while (0)
#define RS_LOAD2_F64(p, mk, a, b)                                \
    do {                                                         \
        a = _mm512_maskz_loadu_pd((__mmask8)(mk), p);            \
        b = _mm512_maskz_loadu_pd((__mmask8)((mk) >> 8), (p) + 8); \
    } while (0)
#define RS_STORE2_F64(p, mk, a, b)                                                          \
    do {                                                                                    \
        const __mmask8 l_ = (__mmask8)(mk), h_ = (__mmask8)((mk) >> 8);                     \
        _mm512_mask_storeu_pd(p, l_, _mm512_add_pd(_mm512_maskz_loadu_pd(l_, p), a));       \
        _mm512_mask_storeu_pd((p) + 8, h_, _mm512_add_pd(_mm512_maskz_loadu_pd(h_, (p) + 8), b)); \
    } while (0)
RS_GROUP(rs_group_f32, float, RS_LOAD2_F32, RS_STORE2_F32)
RS_GROUP(rs_group_f64, double, RS_LOAD2_F64, RS_STORE2_F64)
#define RS_N(NAME, GROUP, T)                                                                 \
    static __attribute__((target("avx512f"))) void NAME(int64_t E, T *const *db,             \
                                                        const T *const *dy, int64_t m,       \
                                                        int64_t n) {                         \
        int64_t e = 0;                                                                       \
        for (; e + 4 <= E; e += 4) GROUP(4, db + e, dy + e, m, n);                           \
        for (; e < E; e++) GROUP(1, db + e, dy + e, m, n);                                   \
    }
RS_N(rowsum_n_avx512_f32, rs_group_f32, float)
RS_N(rowsum_n_avx512_f64, rs_group_f64, double)
#undef RS_N
#undef RS_GROUP
#undef RS_LOAD2_F32
#undef RS_STORE2_F32
#undef RS_LOAD2_F64
#undef RS_STORE2_F64
#endif

/* db_e(n) += sum over the rows of dy_e(m, n) for e < E (dense_t.h: rowsum_acc_n) */
static int rowsum_acc_n(int dt, int64_t E, void *const *db, const void *const *dy, int64_t m,
                        int64_t n) {
    if (m * n == 0 || E <= 0) return PAT_OK;
#if GS_X86
    if (gs_isa() == 2) {
        PAT_DISPATCH(dt, rowsum_n_avx512_f32(E, (float *const *)db, (const float *const *)dy, m, n),
                     rowsum_n_avx512_f64(E, (double *const *)db, (const double *const *)dy, m, n));
        return PAT_OK;
    }
#endif
    PAT_DISPATCH(dt, rowsum_acc_n_f32(E, (float *const *)db, (const float *const *)dy, m, n),
                 rowsum_acc_n_f64(E, (double *const *)db, (const double *const *)dy, m, n));
    return PAT_OK;
}

static int rowsum_acc(int dt, void *db, const void *dy, int64_t m, int64_t n) {
    return rowsum_acc_n(dt, 1, &db, &dy, m, n);
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

/* Inside a STACK_OFFSETS walk: member ne's output, input, weight and bias pointers into
   the chunk tables ys, xs, ws, bs (the forward kernels gather members this way) */
#define STACK_MEMBER(ne)                                                   \
    do {                                                                   \
        ys[ne] = at_off(y, oy, dt);                                        \
        xs[ne] = at_off(x, oa, dt);                                        \
        ws[ne] = at_off(wt, ob, dt);                                       \
        bs[ne] = at_off(b, oc, dt);                                        \
    } while (0)

static int bad_stack(int dt, const pat_iter *it, int64_t m, int64_t k, int64_t n) {
    if (dt != PAT_F32 && dt != PAT_F64) return PAT_EBADDTYPE;
    if (!valid_iter(it) || m < 0 || k < 0 || n < 0) return PAT_EBADARG;
    return PAT_OK;
}

/* Members are gathered SL_CHUNK at a time and each chunk goes through the E-product
   kernels (gemm_bias_n, rowsum_acc_n) in one call: each member's products are those of
   linear alone, bitwise, and the set-up is paid once per chunk. */
enum { SL_CHUNK = 4 };

/* y_e = x_e w_e^T + b_e */
int pat_k_stacked_linear_fwd(int dt, void *y, const void *x, const void *wt, const void *b,
                             const pat_iter *it, int64_t m, int64_t k, int64_t n,
                             pat_stats *st) {
    int rc = bad_stack(dt, it, m, k, n);
    if (rc != PAT_OK) return rc;
    if (!y || !x || !wt) return PAT_ENULL;
    if (m * n == 0) return PAT_OK;
    if (k == 0) {
        MATMUL_WALK(it) {
            STACK_OFFSETS(it);
            rc = pat_k_linear_fwd(dt, at_off(y, oy, dt), at_off(x, oa, dt), at_off(wt, ob, dt),
                                  at_off(b, oc, dt), m, k, n, st);
            if (rc != PAT_OK) return rc;
        }
        return PAT_OK;
    }
    const void *xs[SL_CHUNK], *ws[SL_CHUNK], *bs[SL_CHUNK];
    void *ys[SL_CHUNK];
    int64_t ne = 0;
    MATMUL_WALK(it) {
        STACK_OFFSETS(it);
        STACK_MEMBER(ne);
        if (++ne == SL_CHUNK) {
            rc = gemm_bias_n(dt, 0, 1, m, n, k, k, k, n, 0.0, ne, xs, ws, ys, b ? bs : NULL, st);
            if (rc != PAT_OK) return rc;
            ne = 0;
        }
    }
    return gemm_bias_n(dt, 0, 1, m, n, k, k, k, n, 0.0, ne, xs, ws, ys, b ? bs : NULL, st);
}

/* The backward of a chunk of ne members: all dx_e, then all dw_e, then all db_e (each in
   member order, so a dx shared by every member sums them as one at a time would) */
static int stacked_bwd_chunk(int dt, int64_t ne, void *const *dxs, void *const *dws,
                             void *const *dbs, const void *const *dys, const void *const *xs,
                             const void *const *ws, int64_t m, int64_t k, int64_t n,
                             pat_stats *st) {
    int rc = PAT_OK;
    if (dxs[0] && k > 0)
        rc = gemm_bias_n(dt, 0, 0, m, k, n, n, k, k, 1.0, ne, dys, ws, dxs, NULL, st);
    if (dws[0] && k > 0 && rc == PAT_OK)
        rc = gemm_bias_n(dt, 1, 0, n, k, m, n, k, k, 1.0, ne, dys, xs, dws, NULL, st);
    if (dbs[0] && rc == PAT_OK) rc = rowsum_acc_n(dt, ne, dbs, dys, m, n);
    return rc;
}

/* dx_e += dy_e w_e;  dw_e += dy_e^T x_e;  db_e += sum over the rows of dy_e */
int pat_k_stacked_linear_bwd(int dt, void *dx, void *dw, void *db, const void *dy,
                             const void *x, const void *wt, const pat_iter *it, int64_t m,
                             int64_t k, int64_t n, pat_stats *st) {
    int rc = bad_stack(dt, it, m, k, n);
    if (rc != PAT_OK) return rc;
    if (!dy || (dx && !wt) || (dw && !x)) return PAT_ENULL;
    if (m * n == 0) return PAT_OK;
    const void *dys[SL_CHUNK], *xs[SL_CHUNK], *ws[SL_CHUNK];
    void *dxs[SL_CHUNK], *dws[SL_CHUNK], *dbs[SL_CHUNK];
    int64_t ne = 0;
    MATMUL_WALK(it) {
        STACK_OFFSETS(it);
        dxs[ne] = at_off(dx, oa, dt);
        dws[ne] = at_off(dw, ob, dt);
        dbs[ne] = at_off(db, oc, dt);
        dys[ne] = at_off(dy, oy, dt);
        xs[ne] = at_off(x, oa, dt);
        ws[ne] = at_off(wt, ob, dt);
        if (++ne == SL_CHUNK) {
            rc = stacked_bwd_chunk(dt, ne, dxs, dws, dbs, dys, xs, ws, m, k, n, st);
            if (rc != PAT_OK) return rc;
            ne = 0;
        }
    }
    return ne ? stacked_bwd_chunk(dt, ne, dxs, dws, dbs, dys, xs, ws, m, k, n, st) : PAT_OK;
}

/* ---- linear or stacked_linear, then a unary op on its output (replay.c fuses the pair) --
   y = x w^T + b (it NULL: one linear) or y_e = x_e w_e^T + b_e (stacked_linear), then
   r = f(y) for the unary op uop: the members go through the GEMMs FU_CHUNK at a time and
   f is applied to each chunk's outputs at once, while they are still in cache, instead of
   in a second pass over all of y. The kernels are the same as the two ops' in turn
   (gemm_bias_n, pat_k_unary_fwd), so are the bits. It runs only when that is exactly the
   pair's effect: k >= 1, the members' outputs consecutive blocks of y (which the unary's
   n elements cover), and r either y itself or apart from y, x, w and b (a planner may
   give r the buffer of an operand that dies at the linear: then the unary must wait).
   Otherwise *fused = 0 and nothing is touched; else *fused = 1 and *part says which op
   failed when the status is not PAT_OK (0 the linear, 1 the unary). */
enum { FU_CHUNK = 4 };

/* [lo, hi) byte ranges: disjoint */
static int apart(const char *a, int64_t alo, int64_t ahi, const char *b, int64_t blo,
                 int64_t bhi) {
    return (uintptr_t)(a + ahi) <= (uintptr_t)(b + blo) ||
           (uintptr_t)(b + bhi) <= (uintptr_t)(a + alo);
}

int pat_k_linear_unary_fwd(int dt, void *y, const void *x, const void *wt, const void *b,
                           const pat_iter *it, int64_t m, int64_t k, int64_t n, int uop,
                           void *r, int64_t nr, double alpha, pat_stats *st, int *fused,
                           int *part) {
    *fused = 0;
    *part = 0;
    if ((dt != PAT_F32 && dt != PAT_F64) || m < 1 || k < 1 || n < 1 || !y || !x || !wt || !r)
        return PAT_OK;
    if (it && !valid_iter(it)) return PAT_OK;
    const int64_t es = esize(dt), blk = m * n;
    /* the members' offsets: y's consecutive, and the extents of x, w, b */
    int64_t E = 0, ax[2] = {0, 0}, aw[2] = {0, 0}, ab[2] = {0, 0};
    if (it) {
        MATMUL_WALK(it) {
            STACK_OFFSETS(it);
            if (oy != E * blk) return PAT_OK;
            if (E == 0 || oa < ax[0]) ax[0] = oa;
            if (E == 0 || oa > ax[1]) ax[1] = oa;
            if (E == 0 || ob < aw[0]) aw[0] = ob;
            if (E == 0 || ob > aw[1]) aw[1] = ob;
            if (E == 0 || oc < ab[0]) ab[0] = oc;
            if (E == 0 || oc > ab[1]) ab[1] = oc;
            E++;
        }
    } else {
        E = 1;
    }
    if (E < 1 || nr != E * blk) return PAT_OK;
    const char *rc_ = r;
    const int64_t rbytes = nr * es;
    if (r != y && !apart(rc_, 0, rbytes, y, 0, rbytes)) return PAT_OK;
    if (!apart(rc_, 0, rbytes, x, ax[0] * es, (ax[1] + m * k) * es) ||
        !apart(rc_, 0, rbytes, wt, aw[0] * es, (aw[1] + n * k) * es) ||
        (b && !apart(rc_, 0, rbytes, b, ab[0] * es, (ab[1] + n) * es)))
        return PAT_OK;
    *fused = 1;
    const void *xs[FU_CHUNK], *ws[FU_CHUNK], *bs[FU_CHUNK];
    void *ys[FU_CHUNK];
    int64_t ne = 0, done = 0;
    int rc = PAT_OK;
#define FU_FLUSH()                                                                          \
    do {                                                                                    \
        rc = gemm_bias_n(dt, 0, 1, m, n, k, k, k, n, 0.0, ne, xs, ws, ys, b ? bs : NULL, st); \
        if (rc != PAT_OK) return rc;                                                        \
        rc = pat_k_unary_fwd(uop, dt, (char *)r + done * blk * es,                          \
                             (const char *)y + done * blk * es, ne * blk, alpha);           \
        if (rc != PAT_OK) {                                                                 \
            *part = 1;                                                                      \
            return rc;                                                                      \
        }                                                                                   \
        done += ne;                                                                         \
        ne = 0;                                                                             \
    } while (0)
    if (!it) {
        xs[0] = x;
        ws[0] = wt;
        bs[0] = b;
        ys[0] = y;
        ne = 1;
        FU_FLUSH();
        return PAT_OK;
    }
    MATMUL_WALK(it) {
        STACK_OFFSETS(it);
        STACK_MEMBER(ne);
        if (++ne == FU_CHUNK) FU_FLUSH();
    }
    if (ne) FU_FLUSH();
#undef FU_FLUSH
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
