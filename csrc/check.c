/* check.c: NaN/Inf detection (pat.detect_anomaly) for the checked sweeps.

   Contract: pat_find_nonfinite and pat_check_fwd are public (pat_api.h); the pat_chk_*
   functions are what the checked sweeps (sweeps.c, replay.c) run after each rule. After
   a rule they scan what it wrote (the output of a forward step, tans[dst] of a tangent
   rule, the source adjoints a reverse or second-order rule accumulated into); at the
   first non-finite value they describe it in *an and blame the first input of the rule
   that was already non-finite (or the rule itself) and return PAT_EANOMALY. They read
   only the buffers they are given, and keep nothing.

   A scan reads each element's exponent bits as an integer (memcpy: no aliasing question)
   and ORs "all ones" over a block, which the compiler vectorises; only a block that has a
   hit is walked again for the exact index. */
#include <math.h>
#include <string.h>

#include "pat.h"

enum { SCAN_BLOCK = 1024 };

/* The index of the first non-finite x[i] (-1: none), for T with exponent bits MASK in
   the unsigned integer U of its width. */
#define SCAN(name, T, U, MASK)                                                  \
    static int64_t name(const T *x, int64_t n) {                               \
        for (int64_t lo = 0; lo < n; lo += SCAN_BLOCK) {                       \
            const int64_t hi = n - lo < SCAN_BLOCK ? n : lo + SCAN_BLOCK;      \
            U any = 0;                                                         \
            for (int64_t i = lo; i < hi; i++) {                                \
                U b;                                                           \
                memcpy(&b, &x[i], sizeof b);                                   \
                any |= (U)((b & MASK) == MASK);                                \
            }                                                                  \
            if (any)                                                           \
                for (int64_t i = lo; i < hi; i++)                              \
                    if (!isfinite(x[i])) return i;                             \
        }                                                                      \
        return -1;                                                             \
    }
SCAN(scan_f32, float, uint32_t, 0x7f800000u)
SCAN(scan_f64, double, uint64_t, 0x7ff0000000000000u)

int pat_find_nonfinite(int dtype, const void *x, int64_t n, int64_t *index, double *value) {
    if (!index || !value) return PAT_ENULL;
    *index = -1;
    *value = 0.0;
    if (dtype != PAT_F32 && dtype != PAT_F64) return PAT_EBADDTYPE;
    if (n < 0) return PAT_EBADARG;
    if (n == 0) return PAT_OK;
    if (!x) return PAT_ENULL;
    if (dtype == PAT_F32) {
        *index = scan_f32(x, n);
        if (*index >= 0) *value = ((const float *)x)[*index];
    } else {
        *index = scan_f64(x, n);
        if (*index >= 0) *value = ((const double *)x)[*index];
    }
    return PAT_OK;
}

/* The first non-finite element of p (total elements; p may be NULL): 1 and *j, *v. */
static int first_bad(int dt, const void *p, int64_t total, int64_t *j, double *v) {
    if (!p || total <= 0) return 0;
    return pat_find_nonfinite(dt, p, total, j, v) == PAT_OK && *j >= 0;
}

/* Whether source i of an op is a float array of the op's dtype: the condition of where
   is uint8 and the labels of cross_entropy are int64. */
static int float_src(int op, int i) {
    return !(op == PAT_OP_WHERE && i == 0) && !(op == PAT_OP_CROSS_ENTROPY && i == 1);
}

/* An input of a rule that may be blamed: nseeds runs of n elements of dtype dt at p. */
typedef struct {
    int cause;
    const void *p;
    int64_t n;
    int64_t nseeds;
    int dt;
} pat_cand;

/* Candidates read from tables: tab[src[i]] for float sources (cause0 + i), and the
   output and aux slots when `with_out`. Returns how many were added at c. */
static int cands_of(const pat_instr *ins, void *const *tab, const int64_t *sizes, int64_t K,
                    int cause0, int with_out, pat_cand *c) {
    int nc = 0;
    for (int i = 0; i < 3; i++)
        if (ins->src[i] >= 0 && float_src(ins->op, i))
            c[nc++] = (pat_cand){cause0 + i, tab[ins->src[i]], sizes[ins->src[i]], K,
                                 pat_src_dtype(ins, i)};
    if (with_out) {
        c[nc++] = (pat_cand){PAT_CAUSE_OUT, pat_slot(tab, ins->dst), pat_size(sizes, ins->dst), 1,
                             ins->dtype};
        c[nc++] = (pat_cand){PAT_CAUSE_AUX, pat_slot(tab, ins->aux), pat_size(sizes, ins->aux), 1,
                             ins->dtype};
    }
    return nc;
}

void pat_chk_reset(pat_anomaly *an) {
    an->record = -1;
    an->sweep = -1;
    an->seed = 0;
    an->index = -1;
    an->cause_seed = 0;
    an->cause_index = -1;
    an->value = 0.0;
    an->cause_value = 0.0;
    an->pass_ = PAT_PASS_FWD;
    an->buffer = -1;
    an->cause = PAT_CAUSE_OP;
    an->pad_ = 0;
}

/* Fill *an for a non-finite element j (of nseeds runs of n) and blame the first
   candidate holding a non-finite value. Returns PAT_EANOMALY. */
static int report(pat_anomaly *an, int64_t t, int pass, int buffer,
                  int64_t j, int64_t n, double v, const pat_cand *c, int nc) {
    an->record = t;
    an->pass_ = pass;
    an->buffer = buffer;
    an->seed = j / n;
    an->index = j % n;
    an->value = v;
    for (int i = 0; i < nc; i++) {
        int64_t k;
        double w;
        if (c[i].n > 0 && first_bad(c[i].dt, c[i].p, c[i].n * c[i].nseeds, &k, &w)) {
            an->cause = c[i].cause;
            an->cause_seed = k / c[i].n;
            an->cause_index = k % c[i].n;
            an->cause_value = w;
            return PAT_EANOMALY;
        }
    }
    an->cause = PAT_CAUSE_OP;
    return PAT_EANOMALY;
}

/* After a reverse-type rule of record t accumulated into gtab[src] (nseeds each): the
   first source gradient holding a non-finite value, blamed on the candidates. */
static int check_src_grads(const pat_instr *ins, int64_t t, int pass, void *const *gtab,
                           const int64_t *sizes, int64_t K, const pat_cand *c, int nc,
                           pat_anomaly *an) {
    for (int i = 0; i < 3; i++) {
        const int32_t s = ins->src[i];
        int64_t j;
        double v;
        if (s >= 0 && sizes[s] > 0 &&
            first_bad(pat_src_dtype(ins, i), pat_slot(gtab, s), sizes[s] * K, &j, &v))
            return report(an, t, pass, i, j, sizes[s], v, c, nc);
    }
    return PAT_OK;
}

int pat_check_fwd(const pat_instr *ins, int64_t record, void *const *bufs,
                  const int64_t *sizes, int64_t nbufs, pat_anomaly *anomaly) {
    if (!ins || !bufs || !sizes || !anomaly) return PAT_ENULL;
    if (ins->dst < 0 || ins->dst >= nbufs || pat_bad_slot(ins->src[0], nbufs) ||
        pat_bad_slot(ins->src[1], nbufs) || pat_bad_slot(ins->src[2], nbufs))
        return PAT_EBADARG;
    if (ins->dtype != PAT_F32 && ins->dtype != PAT_F64) return PAT_EBADDTYPE;
    const int64_t n = sizes[ins->dst];
    int64_t j;
    double v;
    if (n <= 0 || !first_bad(ins->dtype, bufs[ins->dst], n, &j, &v)) return PAT_OK;
    pat_cand c[3];
    const int nc = cands_of(ins, bufs, sizes, 1, PAT_CAUSE_SRC0, 0, c);
    pat_chk_reset(anomaly);
    return report(anomaly, record, PAT_PASS_FWD, -1, j, n, v, c, nc);
}

/* After the tangent rule of record t wrote tans[dst] (K seeds). */
int pat_chk_tan(const pat_instr *ins, int64_t t, void *const *vals, void *const *tans,
                const int64_t *sizes, int64_t K, pat_anomaly *an) {
    const int64_t n = sizes[ins->dst];
    int64_t j;
    double v;
    if (n <= 0 || !first_bad(ins->dtype, tans[ins->dst], n * K, &j, &v)) return PAT_OK;
    pat_cand c[8];
    int nc = cands_of(ins, tans, sizes, K, PAT_CAUSE_T0, 0, c);
    nc += cands_of(ins, vals, sizes, 1, PAT_CAUSE_SRC0, 1, c + nc);
    return report(an, t, PAT_PASS_TAN, -1, j, n, v, c, nc);
}

/* After the backward rule of record t for K cotangents (K = 1: the one-seed sweep). */
int pat_chk_bwd(const pat_instr *ins, int64_t t, void *const *vals, void *const *grads,
                const int64_t *sizes, int64_t K, pat_anomaly *an) {
    pat_cand c[6];
    c[0] = (pat_cand){PAT_CAUSE_DY, grads[ins->dst], sizes[ins->dst], K, ins->dtype};
    const int nc = 1 + cands_of(ins, vals, sizes, 1, PAT_CAUSE_SRC0, 1, c + 1);
    return check_src_grads(ins, t, PAT_PASS_BWD, grads, sizes, K, c, nc, an);
}

/* After the first- and second-order rules of record t wrote atans[src] (K directions). */
int pat_chk_hvp(const pat_instr *ins, int64_t t, void *const *vals, void *const *tans,
                void *const *adjs, void *const *atans, const int64_t *sizes, int64_t K,
                pat_anomaly *an) {
    const int64_t ny = sizes[ins->dst];
    pat_cand c[11];
    c[0] = (pat_cand){PAT_CAUSE_DY, atans[ins->dst], ny, K, ins->dtype};
    c[1] = (pat_cand){PAT_CAUSE_ADJ, adjs[ins->dst], ny, 1, ins->dtype};
    c[2] = (pat_cand){PAT_CAUSE_TY, tans[ins->dst], ny, K, ins->dtype};
    int nc = 3 + cands_of(ins, tans, sizes, K, PAT_CAUSE_T0, 0, c + 3);
    nc += cands_of(ins, vals, sizes, 1, PAT_CAUSE_SRC0, 1, c + nc);
    return check_src_grads(ins, t, PAT_PASS_HVP, atans, sizes, K, c, nc, an);
}
