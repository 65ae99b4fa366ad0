/* gemm_small_t.h: the small-GEMM kernel of dense.c, one instance per element type and
   instruction set. dense.c includes it once per (T, ISA) with the macros below; T, GS,
   GS_V, GS_VL, GS_NR and GS_GATHER (and the ISA's GS_P) are undefined again at the end of
   this file, so each inclusion defines its own:
     T          float or double
     GS(name)   the instance's name (suffixed by type and ISA)
     GS_ATTR    the function attribute that selects the ISA (empty: the build's own)
     GS_MR      rows of C per register tile; GS_MRB a lower one (neither 4, 2 nor 1)
     GS_NR      columns of C per register tile (64 bytes)
     GS_V, GS_VL               the vector type and its lanes (T and 1: the portable form)
     GS_LOAD(p), GS_STORE(p, v), GS_SET1(x), GS_ZERO(), GS_ADD(a, b), GS_FMADD(a, b, c)
                               unaligned load/store, broadcast, zero, a + b, fma(a, b, c)
     GS_GATHER(pk, B0, bcs, brs, K)  optional: pk[p*GS_NR + c] = B0[p*brs + c*bcs] for a
                               full block (bcs * GS_NR fits in int32)

   Math: C(M,N) = A B (+ C when acc), A(i,p) = A[i*ars + p*acs], B(p,j) = B[p*brs + j*bcs],
   C(i,j) = C[i*crs + j*ccs]. An element of a tile of 4 or more rows is the chain
       s = 0;  for p = 0 .. K-1:  s = fma(A(i,p), B(p,j), s);   C(i,j) = s (+ C(i,j))
   and one of a 1- or 2-row tile that chain split by p mod 4 (below). fma rounds once, so
   the vector instances (vfmadd) and the portable one (fma()) give the same bits, and
   which chain an element gets depends only on the shapes and the CPU: one model alone and
   the same model inside an ensemble agree bitwise.

   Layout: a block of GS_NR columns of B is read in place when its rows are contiguous
   (bcs == 1, a full block), else packed into `pk` (K x GS_NR, zero-padded past N); each
   step p loads GS_NR consecutive elements of it and broadcasts one element of A per row,
   and the MR x GS_NR accumulators stay in registers. Rows past M read the last row again
   and are not written. */

#define GS_NV (GS_NR / GS_VL)

/* A tile's valid part (mr rows, nr columns) of o stored into C, adding C itself (acc) or
   the addend e(r, c) = e[r*ers + c*ecs]: the store of a partial tile (and of every tile
   whose chains are split) */
#define GS_EDGE_STORE()                                                                   \
    for (int64_t r = 0; r < mr; r++) {                                                    \
        T *cr = c0 + r * crs;                                                             \
        for (int64_t c = 0; c < nr; c++)                                                  \
            cr[c * ccs] = acc ? o[r][c] + cr[c * ccs]                                     \
                          : e ? o[r][c] + e[r * ers + c * ecs] : o[r][c];                 \
    }

/* acc(r, c) = sum_p A(i0 + r, p) b[p*bs + c] for r < MR, then stored into the valid part
   of C (mr rows, nr columns), plus C itself (acc) or the addend e(r, c) = e[r*ers + c*ecs]
   (the bias: one of ers, ecs is 0; e NULL: none). One instance per tile height MR
   (GS_MR, GS_MRB, 4, 2, 1), so an edge of a few rows (a matrix-vector product) does not
   pay for GS_MR. */
/* ar[r]: row r of the tile's A block, rows past mr repeating the last one. Built in the
   tile from (a0, ars) rather than passed in memory: a pointer table written by the caller
   and read back at once costs a store-forwarding stall per tile. */
#define GS_ROWS(MR)                                                                       \
    const T *ar[MR];                                                                      \
    _Pragma("GCC unroll 16") for (int r = 0; r < MR; r++)                                 \
        ar[r] = a0 + (r < mr ? r : mr - 1) * ars
/* the same for a full tile whose rows are consecutive elements (ars == 1: A transposed,
   as dW = dy^T x reads dy): one pointer, the rows at constant offsets from it, so no
   per-row pointer moves compete with the FMAs for their ports */
#define GS_ROWS_UNIT(MR)                                                                  \
    (void)ars;                                                                            \
    const T *ar[MR];                                                                      \
    _Pragma("GCC unroll 16") for (int r = 0; r < MR; r++) ar[r] = a0 + r
/* and for rows 16 elements apart (a row-major A 16 wide: a 16-unit layer's activations or
   output gradients), for the same reason */
#define GS_ROWS_16(MR)                                                                    \
    (void)ars;                                                                            \
    const T *ar[MR];                                                                      \
    _Pragma("GCC unroll 16") for (int r = 0; r < MR; r++) ar[r] = a0 + 16 * r

#define GS_TILE(MR, NAME, ROWS)                                                           \
    static GS_ATTR void GS(NAME)(int64_t K, const T *a0, int64_t ars, int64_t acs,         \
                                 const T *b, int64_t bs, T *c0, int64_t crs,               \
                                 int64_t ccs, int64_t mr, int64_t nr, int acc,            \
                                 const T *e, int64_t ers, int64_t ecs) {                  \
        ROWS(MR);                                                                         \
        GS_V s[MR][GS_NV];                                                                \
        _Pragma("GCC unroll 16") for (int r = 0; r < MR; r++)                             \
            _Pragma("GCC unroll 16") for (int v = 0; v < GS_NV; v++) s[r][v] = GS_ZERO(); \
        for (int64_t p = 0; p < K; p++) {                                                 \
            const T *bp = b + p * bs;                                                     \
            GS_V bv[GS_NV];                                                               \
            _Pragma("GCC unroll 16") for (int v = 0; v < GS_NV; v++)                      \
                bv[v] = GS_LOAD(bp + v * GS_VL);                                          \
            _Pragma("GCC unroll 16") for (int r = 0; r < MR; r++) {                       \
                const GS_V a = GS_SET1(ar[r][p * acs]);                                   \
                _Pragma("GCC unroll 16") for (int v = 0; v < GS_NV; v++)                  \
                    s[r][v] = GS_FMADD(a, bv[v], s[r][v]);                                \
            }                                                                             \
        }                                                                                 \
        if (mr == MR && nr == GS_NR && ccs == 1) {                                        \
            _Pragma("GCC unroll 16") for (int r = 0; r < MR; r++) {                       \
                T *cr = c0 + r * crs;                                                     \
                _Pragma("GCC unroll 16") for (int v = 0; v < GS_NV; v++) {                \
                    GS_V y = s[r][v];                                                     \
                    if (acc) y = GS_ADD(y, GS_LOAD(cr + v * GS_VL));                      \
                    else if (e && ecs) y = GS_ADD(y, GS_LOAD(e + v * GS_VL));             \
                    else if (e) y = GS_ADD(y, GS_SET1(e[r * ers]));                       \
                    GS_STORE(cr + v * GS_VL, y);                                          \
                }                                                                         \
            }                                                                             \
            return;                                                                       \
        }                                                                                 \
        T o[MR][GS_NR];                                                                   \
        _Pragma("GCC unroll 16") for (int r = 0; r < MR; r++)                             \
            _Pragma("GCC unroll 16") for (int v = 0; v < GS_NV; v++)                      \
                GS_STORE(&o[r][v * GS_VL], s[r][v]);                                      \
        GS_EDGE_STORE();                                                                  \
    }
GS_TILE(GS_MR, tileGS_MR, GS_ROWS)
GS_TILE(GS_MR, tileGS_MRu, GS_ROWS_UNIT)
GS_TILE(GS_MR, tileGS_MR16, GS_ROWS_16)
GS_TILE(GS_MRB, tileGS_MRB, GS_ROWS)
GS_TILE(4, tile4, GS_ROWS)
#undef GS_TILE

/* Tiles of 1 and 2 rows hold too few accumulators to cover the FMA latency, so their
   chains are split four ways by p mod 4 and joined at the end: an element of such a tile
   is (s0 + s1) + (s2 + s3), s_u = the chain over the p = u (mod 4) in order. Which tile
   an element falls in depends only on M, N, K and the CPU's instance, so this keeps one
   model alone and inside an ensemble bitwise equal. */
#define GS_TILE_SPLIT(MR)                                                                 \
    static GS_ATTR void GS(tile##MR)(int64_t K, const T *a0, int64_t ars, int64_t acs,     \
                                     const T *b, int64_t bs, T *c0, int64_t crs,           \
                                     int64_t ccs, int64_t mr, int64_t nr, int acc,        \
                                     const T *e, int64_t ers, int64_t ecs) {              \
        GS_ROWS(MR);                                                                      \
        GS_V s[4][MR][GS_NV];                                                             \
        _Pragma("GCC unroll 16") for (int u = 0; u < 4; u++)                              \
            _Pragma("GCC unroll 16") for (int r = 0; r < MR; r++)                         \
                _Pragma("GCC unroll 16") for (int v = 0; v < GS_NV; v++)                  \
                    s[u][r][v] = GS_ZERO();                                               \
        int64_t p = 0;                                                                    \
        for (; p + 4 <= K; p += 4)                                                        \
            _Pragma("GCC unroll 4") for (int u = 0; u < 4; u++) {                         \
                const T *bp = b + (p + u) * bs;                                           \
                _Pragma("GCC unroll 16") for (int r = 0; r < MR; r++) {                   \
                    const GS_V a = GS_SET1(ar[r][(p + u) * acs]);                         \
                    _Pragma("GCC unroll 16") for (int v = 0; v < GS_NV; v++)              \
                        s[u][r][v] = GS_FMADD(a, GS_LOAD(bp + v * GS_VL), s[u][r][v]);    \
                }                                                                         \
            }                                                                             \
        for (int u = 0; p < K; p++, u++) {                                                \
            const T *bp = b + p * bs;                                                     \
            for (int r = 0; r < MR; r++) {                                                \
                const GS_V a = GS_SET1(ar[r][p * acs]);                                   \
                for (int v = 0; v < GS_NV; v++)                                           \
                    s[u][r][v] = GS_FMADD(a, GS_LOAD(bp + v * GS_VL), s[u][r][v]);        \
            }                                                                             \
        }                                                                                 \
        T o[MR][GS_NR];                                                                   \
        _Pragma("GCC unroll 16") for (int r = 0; r < MR; r++)                             \
            _Pragma("GCC unroll 16") for (int v = 0; v < GS_NV; v++)                      \
                GS_STORE(&o[r][v * GS_VL], GS_ADD(GS_ADD(s[0][r][v], s[1][r][v]),         \
                                                  GS_ADD(s[2][r][v], s[3][r][v])));       \
        GS_EDGE_STORE();                                                                  \
    }
GS_TILE_SPLIT(2)
GS_TILE_SPLIT(1)
#undef GS_TILE_SPLIT
#undef GS_ROWS
#undef GS_ROWS_UNIT
#undef GS_ROWS_16
#undef GS_NV
#undef GS_EDGE_STORE

/* The tile height for the next mr (<= GS_MR) rows: GS_MR when they fill it, else the
   smallest height that covers them (a taller tile's spare rows are cheaper than a second
   pass over K) */
static int64_t GS(height)(int64_t mr) {
    if (mr >= GS_MR || mr > GS_MRB) return GS_MR;
    return mr > 4 ? GS_MRB : mr > 2 ? 4 : mr;
}

/* C(M,N) (+)= A B (+ e) in this orientation; `pk` holds K * GS_NR elements */
static GS_ATTR void GS(run)(int64_t M, int64_t N, int64_t K, const T *A, int64_t ars,
                            int64_t acs, const T *B, int64_t brs, int64_t bcs, T *C,
                            int64_t crs, int64_t ccs, int acc, const T *e, int64_t ers,
                            int64_t ecs, T *pk) {
    for (int64_t j0 = 0; j0 < N; j0 += GS_NR) {
        const int64_t nr = N - j0 < GS_NR ? N - j0 : GS_NR;
        const T *b = B + j0 * bcs;
        int64_t bs = brs;
        if (bcs != 1) { /* a transposed operand: column c of the block is a row of B^T */
#ifdef GS_GATHER
            if (nr == GS_NR && bcs <= INT32_MAX / GS_NR) GS_GATHER(pk, B + j0 * bcs, bcs, brs, K);
            else
#endif
            for (int64_t c = 0; c < nr; c++) {
                const T *src = B + (j0 + c) * bcs;
                for (int64_t p = 0; p < K; p++) pk[p * GS_NR + c] = src[p * brs];
            }
            for (int64_t p = 0; nr < GS_NR && p < K; p++)
                for (int64_t c = nr; c < GS_NR; c++) pk[p * GS_NR + c] = 0;
            b = pk;
            bs = GS_NR;
        } else if (nr < GS_NR) { /* the last, narrow block of a row-major operand */
            for (int64_t p = 0; p < K; p++) {
                const T *bp = B + p * brs + j0;
                T *q = pk + p * GS_NR;
                for (int64_t c = 0; c < nr; c++) q[c] = bp[c];
                for (int64_t c = nr; c < GS_NR; c++) q[c] = 0;
            }
            b = pk;
            bs = GS_NR;
        }
        for (int64_t i0 = 0, h; i0 < M; i0 += h) {
            const int64_t mr = M - i0 < GS_MR ? M - i0 : GS_MR;
            h = GS(height)(mr);
            const T *a0 = A + i0 * ars;
            T *c0 = C + i0 * crs + j0 * ccs;
            const T *e0 = e ? e + i0 * ers + j0 * ecs : NULL;
            if (h == GS_MR && mr == GS_MR && ars == 1)
                GS(tileGS_MRu)(K, a0, ars, acs, b, bs, c0, crs, ccs, mr, nr, acc, e0, ers, ecs);
            else if (h == GS_MR && mr == GS_MR && ars == 16)
                GS(tileGS_MR16)(K, a0, ars, acs, b, bs, c0, crs, ccs, mr, nr, acc, e0, ers, ecs);
            else if (h == GS_MR)
                GS(tileGS_MR)(K, a0, ars, acs, b, bs, c0, crs, ccs, mr, nr, acc, e0, ers, ecs);
            else if (h == GS_MRB)
                GS(tileGS_MRB)(K, a0, ars, acs, b, bs, c0, crs, ccs, mr, nr, acc, e0, ers, ecs);
            else if (h == 4)
                GS(tile4)(K, a0, ars, acs, b, bs, c0, crs, ccs, mr, nr, acc, e0, ers, ecs);
            else if (h == 2)
                GS(tile2)(K, a0, ars, acs, b, bs, c0, crs, ccs, mr, nr, acc, e0, ers, ecs);
            else
                GS(tile1)(K, a0, ars, acs, b, bs, c0, crs, ccs, mr, nr, acc, e0, ers, ecs);
        }
    }
}

/* A rough cycle count of run in one orientation: the tiles' vector FMAs (one per row and
   step), a fixed cost per tile, and the packing */
static int64_t GS(cost)(int64_t M, int64_t N, int64_t K, int64_t bcs) {
    const int64_t mpad = M / GS_MR * GS_MR + (M % GS_MR ? GS(height)(M % GS_MR) : 0);
    const int64_t cols = (N + GS_NR - 1) / GS_NR;
    /* packing: ~3 cycles an element, 1 for a block gathered whole */
#ifdef GS_GATHER
    const int64_t gathered = bcs != 1 && bcs <= INT32_MAX / GS_NR ? N / GS_NR * GS_NR * K : 0;
#else
    const int64_t gathered = 0;
#endif
    const int64_t packed = bcs != 1 ? cols * GS_NR * K - gathered : (N % GS_NR ? GS_NR * K : 0);
    return cols * (mpad * K + 24 * ((M + GS_MR - 1) / GS_MR)) + 3 * packed + gathered;
}

/* E products of one shape, C_e(M,N) (+)= A_e B_e (+ bias_e(j)) for e < E, in the
   orientation that costs less: C^T = B^T A^T swaps the roles of A and B (the elements'
   chains are the same either way). The choice is made once from the shape and strides, so
   each product is bitwise the one a call with E = 1 computes (one model alone and inside
   an ensemble agree), and the per-call set-up is paid once for the E products. */
static GS_ATTR void GS(gemm)(int64_t E, int64_t M, int64_t N, int64_t K, const T *const *A,
                             int64_t ars, int64_t acs, const T *const *B, int64_t brs,
                             int64_t bcs, T *const *C, int64_t ldc, int acc,
                             const T *const *bias, T *pk) {
    if (GS(cost)(N, M, K, ars) < GS(cost)(M, N, K, bcs))
        for (int64_t e = 0; e < E; e++)
            GS(run)(N, M, K, B[e], bcs, brs, A[e], acs, ars, C[e], 1, ldc, acc,
                    bias ? bias[e] : NULL, 1, 0, pk);
    else
        for (int64_t e = 0; e < E; e++)
            GS(run)(M, N, K, A[e], ars, acs, B[e], brs, bcs, C[e], ldc, 1, acc,
                    bias ? bias[e] : NULL, 0, 1, pk);
}

/* The instance's own parameters are used up: the next inclusion defines its own (the
   instruction set's macros, GS_ATTR, GS_MR, GS_LOAD, ..., stay with the includer) */
#undef T
#undef GS
#undef GS_P
#undef GS_V
#undef GS_VL
#undef GS_NR
#undef GS_GATHER
