/* eltwise_t.h: the loops of the elementwise families (unary, binary, where) for every
   sweep: forward, reverse, tangent and second order. Instantiated by eltwise.c for float
   and double (typed.h).

   Contract: the loops hold no math of their own. Each op's case is generated from its row
   in ops.def and calls that op's scalar rules in rules_t.h, so an op added to ops.def gets
   all four loops, and one whose rules are missing does not compile. Unary loops run over
   n contiguous elements; binary and where loops walk a pat_iter whose operand 0 is y
   (forward, tangent) or dy (reverse, second order). Reverse, tangent and second-order
   loops accumulate into their outputs and skip NULL ones. An op's READS (ops.def) says
   which values its rules read: only those are loaded, so the others may be NULL. */

#include "rules_t.h"

/* ---- unary: y(n) = f(x(n)) ----------------------------------------------------------

   The values a unary rule is called with, by READS: (x, y). relu (OUT_OR_S0) reads the
   one that was kept, v = x or y, as both. */
#define UARGS_NONE(i) (T)0, (T)0
#define UARGS_S0(i) x[i], (T)0
#define UARGS_OUT(i) (T)0, y[i]
#define UARGS_OUT_OR_S0(i) v[i], v[i]
#define UHAS_NONE 1
#define UHAS_S0 (x != NULL)
#define UHAS_OUT (y != NULL)
#define UHAS_OUT_OR_S0 (v != NULL)

#define PAT_OP(NAME, name, READS)
#define PAT_BINARY(NAME, name, READS, ORDER)

PAT_SIMD static int SFX(unary_fwd)(int op, T *y, const T *x, int64_t n, T alpha) {
    switch ((pat_op)op) {
#define PAT_UNARY(NAME, name, READS, ORDER)                                  \
    case PAT_OP_##NAME:                                                     \
        for (int64_t i = 0; i < n; i++) y[i] = SFX(name##_f)(x[i], alpha); \
        return PAT_OK;
#include "ops.def"
    default:
        return PAT_EBADOP;
    }
}

/* dx(n) += rule(dy): the reverse rule; with dx = ty and dy = tx it is the tangent rule.
   set: dx(n) = 0 + rule(dy), the same bits as zeroing dx first and accumulating (0 + v is
   v, and +0 for a -0), in one pass (replay's first write into a zeroed gradient). */
PAT_SIMD static int SFX(unary_bwd)(int op, T *dx, const T *dy, const T *y, const T *x, int64_t n,
                          T alpha, int set) {
    const T *v = x ? x : y;
    (void)v;
    switch ((pat_op)op) {
#define PAT_OP(NAME, name, READS)
#define PAT_BINARY(NAME, name, READS, ORDER)
#define PAT_UNARY(NAME, name, READS, ORDER)                                          \
    case PAT_OP_##NAME:                                                             \
        if (!(UHAS_##READS)) return PAT_ENULL;                                      \
        if (set)                                                                    \
            for (int64_t i = 0; i < n; i++)                                         \
                dx[i] = (T)0 + SFX(name##_d)(dy[i], UARGS_##READS(i), alpha);        \
        else                                                                        \
            for (int64_t i = 0; i < n; i++)                                         \
                dx[i] += SFX(name##_d)(dy[i], UARGS_##READS(i), alpha);              \
        return PAT_OK;
#include "ops.def"
    default:
        return PAT_EBADOP;
    }
}

/* gx(n) += ybar f''(x) tx: the second-order term; none for a LINEAR op */
#define USOA_LINEAR(name, READS) return PAT_OK;
#define USOA_CURVED(name, READS)                                                     \
    if (!(UHAS_##READS)) return PAT_ENULL;                                          \
    for (int64_t i = 0; i < n; i++)                                                 \
        gx[i] += SFX(name##_d2)(ybar[i], tx[i], UARGS_##READS(i), alpha);            \
    return PAT_OK;

static int SFX(unary_soa)(int op, T *gx, const T *ybar, const T *y, const T *x, const T *tx,
                          int64_t n, T alpha) {
    const T *v = x ? x : y;
    (void)v;
    switch ((pat_op)op) {
#define PAT_OP(NAME, name, READS)
#define PAT_BINARY(NAME, name, READS, ORDER)
#define PAT_UNARY(NAME, name, READS, ORDER) \
    case PAT_OP_##NAME:                    \
        USOA_##ORDER(name, READS)
#include "ops.def"
    default:
        return PAT_EBADOP;
    }
}

/* ---- binary: y = a (op) b over a broadcast iteration space ----------------------------

   By READS, what the partial for a (DA_) and for b (DB_) read of the values p = a[.] and
   q = b[.]: a discarded argument is never loaded. CROSS (mul): d/da reads b, d/db reads a.
   BOK_ says which base pointers must be there when the gradients (or tangents) ga, gb
   are asked for. */
#define DA_P_NONE(e) (T)0
#define DA_Q_NONE(e) (T)0
#define DB_P_NONE(e) (T)0
#define DB_Q_NONE(e) (T)0
#define DA_P_CROSS(e) (T)0
#define DA_Q_CROSS(e) (e)
#define DB_P_CROSS(e) (e)
#define DB_Q_CROSS(e) (T)0
#define DA_P_S01(e) (e)
#define DA_Q_S01(e) (e)
#define DB_P_S01(e) (e)
#define DB_Q_S01(e) (e)
#define BOK_NONE(ga, gb) 1
#define BOK_CROSS(ga, gb) (!((ga) && !b) && !((gb) && !a))
#define BOK_S01(ga, gb) (a && b)

/* The walk every binary loop makes: rows of the pat_iter, with the operands' offsets. */
#define BINARY_WALK                                                            \
    const int64_t inner = walk_inner(it);                                     \
    const int64_t sy = walk_inner_stride(it, 0), sa = walk_inner_stride(it, 1), \
                  sb = walk_inner_stride(it, 2);                              \
    pat_walk w;                                                               \
    walk_start(&w, it);                                                       \
    while (walk_next(&w, it))

/* p and q of element i of the current row, as the partial of a / of b reads them */
#define PA(READS) DA_P_##READS(u[i * sa]), DA_Q_##READS(v[i * sb])
#define PB(READS) DB_P_##READS(u[i * sa]), DB_Q_##READS(v[i * sb])
#define ROW_VALUES                                               \
    const T *u = a ? a + w.off[1] : NULL, *v = b ? b + w.off[2] : NULL; \
    (void)u;                                                     \
    (void)v

PAT_SIMD static int SFX(binary_fwd)(int op, T *y, const T *a, const T *b, const pat_iter *it, T alpha) {
    BINARY_WALK {
        T *yy = y + w.off[0];
        const T *aa = a + w.off[1], *bb = b + w.off[2];
        switch ((pat_op)op) {
#define PAT_OP(NAME, name, READS)
#define PAT_UNARY(NAME, name, READS, ORDER)
#define PAT_BINARY(NAME, name, READS, ORDER)                                         \
        case PAT_OP_##NAME:                                                         \
            for (int64_t i = 0; i < inner; i++)                                     \
                yy[i * sy] = SFX(name##_f)(aa[i * sa], bb[i * sb], alpha);          \
            break;
#include "ops.def"
        default:
            return PAT_EBADOP;
        }
    }
    return PAT_OK;
}

/* The first-order rule of y = a (op) b, both ways, over it [y, a, b]:
   reverse (tangent 0):  da += dy df/da, db += dy df/db; dy is the adjoint of y, da and db
                         the adjoints of a and b (NULL: not needed). A stride of 0 on an
                         axis of a or b sums over that broadcast axis. da and db may be one
                         buffer (x * x): each element is read and written once per partial.
   tangent (tangent 1):  dy += da df/da + db df/db; dy is the tangent of y, da and db the
                         tangents of a and b (read only; NULL: zero). */
#define BINARY_SIDE(name, part, READS, P, side, s, dx)                                \
    if (dx) {                                                                        \
        T *x_ = dx + w.off[side];                                                    \
        if (tangent)                                                                 \
            for (int64_t i = 0; i < inner; i++)                                      \
                g[i * sy] += SFX(name##part)(x_[i * s], P(READS), alpha);            \
        else                                                                         \
            for (int64_t i = 0; i < inner; i++)                                      \
                x_[i * s] += SFX(name##part)(g[i * sy], P(READS), alpha);            \
    }

PAT_SIMD static int SFX(binary_first)(int op, int tangent, T *dy, T *da, T *db, const T *a,
                             const T *b, const pat_iter *it, T alpha) {
    switch ((pat_op)op) {
#define PAT_OP(NAME, name, READS)
#define PAT_UNARY(NAME, name, READS, ORDER)
#define PAT_BINARY(NAME, name, READS, ORDER)                 \
    case PAT_OP_##NAME: {                                   \
        if (!BOK_##READS(da, db)) return PAT_ENULL;         \
        BINARY_WALK {                                       \
            T *g = dy + w.off[0];                           \
            ROW_VALUES;                                     \
            BINARY_SIDE(name, _da, READS, PA, 1, sa, da)    \
            BINARY_SIDE(name, _db, READS, PB, 2, sb, db)    \
        }                                                   \
        return PAT_OK;                                      \
    }
#include "ops.def"
    default:
        return PAT_EBADOP;
    }
}

/* ga, gb += ybar * (the second derivatives of a (op) b applied to (ta, tb)); it [y, a, b].
   ga and gb may be one buffer (x * x): each is read-modify-written once per term. */
#define BSOA_LINEAR(name, READS) return PAT_OK;
#define BSOA_CURVED(name, READS)                                                     \
    if (READS##_NEEDS_VALUES && (!a || !b)) return PAT_ENULL;                       \
    BINARY_WALK {                                                                   \
        const T *g = ybar + w.off[0];                                               \
        ROW_VALUES;                                                                 \
        const T *da = ta ? ta + w.off[1] : NULL, *db = tb ? tb + w.off[2] : NULL;   \
        T *A = ga ? ga + w.off[1] : NULL, *B = gb ? gb + w.off[2] : NULL;           \
        for (int64_t i = 0; i < inner; i++) {                                       \
            const T gy = g[i * sy];                                                 \
            const T tp = da ? da[i * sa] : (T)0, tq = db ? db[i * sb] : (T)0;       \
            T pa, pb;                                                               \
            SFX(name##_soa)(DA_P_##READS(u[i * sa]), DB_Q_##READS(v[i * sb]), tp, tq, \
                            ta != NULL, tb != NULL, gb != NULL, &pa, &pb);          \
            if (A) A[i * sa] += gy * pa;                                            \
            if (B) B[i * sb] += gy * pb;                                            \
        }                                                                           \
    }                                                                               \
    return PAT_OK;
#define CROSS_NEEDS_VALUES 0  /* mul's second derivatives are constants */
#define S01_NEEDS_VALUES 1

static int SFX(binary_soa)(int op, T *ga, T *gb, const T *ybar, const T *a, const T *b,
                           const T *ta, const T *tb, const pat_iter *it) {
    switch ((pat_op)op) {
#define PAT_OP(NAME, name, READS)
#define PAT_UNARY(NAME, name, READS, ORDER)
#define PAT_BINARY(NAME, name, READS, ORDER) \
    case PAT_OP_##NAME: {                   \
        BSOA_##ORDER(name, READS)           \
    }
#include "ops.def"
    default:
        return PAT_EBADOP;
    }
}

/* ---- where: y = c ? a : b; it operands [y, c, a, b] ---------------------------------- */

#define WHERE_WALK                                                               \
    const int64_t inner = walk_inner(it);                                       \
    const int64_t sy = walk_inner_stride(it, 0), sc = walk_inner_stride(it, 1),  \
                  sa = walk_inner_stride(it, 2), sb = walk_inner_stride(it, 3);  \
    pat_walk w;                                                                 \
    walk_start(&w, it);                                                         \
    while (walk_next(&w, it))                                                   \
        for (int64_t i = 0; i < inner; i++)

PAT_SIMD static void SFX(where_fwd)(T *y, const uint8_t *c, const T *a, const T *b, const pat_iter *it) {
    WHERE_WALK y[w.off[0] + i * sy] = c[w.off[1] + i * sc] ? a[w.off[2] + i * sa]
                                                           : b[w.off[3] + i * sb];
}

/* da += c ? dy : 0, db += c ? 0 : dy; it operands [dy, c, a, b] */
PAT_SIMD static void SFX(where_bwd)(T *da, T *db, const T *dy, const uint8_t *c, const pat_iter *it) {
    WHERE_WALK {
        const T d = dy[w.off[0] + i * sy];
        if (c[w.off[1] + i * sc]) { if (da) da[w.off[2] + i * sa] += d; }
        else if (db) db[w.off[3] + i * sb] += d;
    }
}

/* ty += c ? ta : tb (NULL: zero) */
static void SFX(where_tan)(T *ty, const uint8_t *c, const T *ta, const T *tb,
                           const pat_iter *it) {
    WHERE_WALK {
        T d;
        if (c[w.off[1] + i * sc]) d = ta ? ta[w.off[2] + i * sa] : (T)0;
        else d = tb ? tb[w.off[3] + i * sb] : (T)0;
        ty[w.off[0] + i * sy] += d;
    }
}
