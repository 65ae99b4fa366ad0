/* tape.c: the op table and the sweeps.

   Contract: one `switch` on the opcode per sweep, with no `default:`, built with
   -Werror=switch, so an op added to pat_op without a case here fails the build. The op
   names come from a designated-initializer table checked against PAT_OP_COUNT, and
   Python checks them against its registry at import. The reverse sweep is a loop from the
   last record to the first: the tape is the order, there is no graph search and no
   recursion. Nothing here allocates, prints, aborts or keeps state between calls.

   Sweeps: pat_tape_backward (reverse, one cotangent); pat_tape_tangent (forward mode,
   first record to last), pat_tape_backward_batch (reverse, K cotangents) and pat_tape_hvp
   (second-order adjoints, forward-over-reverse), each pushing K seeds in one call. The
   tangent and second-order rules read only the values the backward rules read, so one
   recorded tape serves every sweep. A custom op (PAT_OP_CUSTOM) calls back into Python
   through pat_custom_callback; a nonzero status from it stops the sweep like any error.

   NaN/Inf detection (pat.detect_anomaly): each sweep is one static function taking a
   pat_anomaly pointer; the public unchecked sweeps pass NULL, so the only cost they pay is
   one pointer test per record. The *_checked entry points pass it, and after each record
   scan what its rule wrote (see "NaN/Inf detection" below); on a hit they blame the first
   input of the rule that was already non-finite, or the rule itself. */
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "pat.h"
#include "tangent.h"

static const char *const OP_NAMES[] = {
    [PAT_OP_ADD] = "add",
    [PAT_OP_SUB] = "sub",
    [PAT_OP_MUL] = "mul",
    [PAT_OP_DIV] = "div",
    [PAT_OP_POW] = "pow",
    [PAT_OP_MAXIMUM] = "maximum",
    [PAT_OP_MINIMUM] = "minimum",
    [PAT_OP_WHERE] = "where",
    [PAT_OP_NEG] = "neg",
    [PAT_OP_EXP] = "exp",
    [PAT_OP_LOG] = "log",
    [PAT_OP_SQRT] = "sqrt",
    [PAT_OP_TANH] = "tanh",
    [PAT_OP_SIGMOID] = "sigmoid",
    [PAT_OP_RELU] = "relu",
    [PAT_OP_LEAKY_RELU] = "leaky_relu",
    [PAT_OP_SUM] = "sum",
    [PAT_OP_MEAN] = "mean",
    [PAT_OP_MAX] = "max",
    [PAT_OP_RESHAPE] = "reshape",
    [PAT_OP_TRANSPOSE] = "transpose",
    [PAT_OP_INDEX] = "index",
    [PAT_OP_CONCAT] = "concatenate",
    [PAT_OP_MATMUL] = "matmul",
    [PAT_OP_LINEAR] = "linear",
    [PAT_OP_SOFTMAX] = "softmax",
    [PAT_OP_LOG_SOFTMAX] = "log_softmax",
    [PAT_OP_CROSS_ENTROPY] = "cross_entropy",
    [PAT_OP_MSE] = "mse_loss",
    [PAT_OP_CUSTOM] = "custom",
};
_Static_assert(sizeof OP_NAMES / sizeof OP_NAMES[0] == PAT_OP_COUNT, "OP_NAMES vs pat_op");

int pat_abi_version(void) { return PAT_ABI_VERSION; }

const char *pat_op_name(int op) {
    if (op < 0 || op >= PAT_OP_COUNT || OP_NAMES[op] == NULL) return "?";
    return OP_NAMES[op];
}

/* The build script passes PAT_BUILD_INFO so Python can tell a stale extension from a
   fresh one (it hashes csrc/ the same way when the sources are at hand). */
#ifndef PAT_BUILD_INFO
#define PAT_BUILD_INFO "sources=unknown;flags=unknown"
#endif
const char *pat_build_info(void) { return PAT_BUILD_INFO; }

const char *pat_blas_config(void) { return scipy_openblas_get_config(); }
int pat_blas_get_num_threads(void) { return scipy_openblas_get_num_threads(); }
void pat_blas_set_num_threads(int n) { scipy_openblas_set_num_threads(n); }

int pat_exec_fwd(int op, int dtype, void *y, void *aux,
                 const void *s0, const void *s1, const void *s2,
                 const pat_iter *it, int64_t m, int64_t k, int64_t n, double alpha,
                 pat_stats *stats) {
    if (op < 0 || op >= PAT_OP_COUNT) return PAT_EBADOP;
    if (dtype != PAT_F32 && dtype != PAT_F64) return PAT_EBADDTYPE;
    if (stats) stats->instrs += 1;
    switch ((pat_op)op) {
    case PAT_OP_ADD:
    case PAT_OP_SUB:
    case PAT_OP_MUL:
    case PAT_OP_DIV:
    case PAT_OP_POW:
    case PAT_OP_MAXIMUM:
    case PAT_OP_MINIMUM:
        return pat_k_binary_fwd(op, dtype, y, s0, s1, it, alpha);
    case PAT_OP_WHERE:
        return pat_k_where_fwd(dtype, y, s0, s1, s2, it);
    case PAT_OP_NEG:
    case PAT_OP_EXP:
    case PAT_OP_LOG:
    case PAT_OP_SQRT:
    case PAT_OP_TANH:
    case PAT_OP_SIGMOID:
    case PAT_OP_RELU:
    case PAT_OP_LEAKY_RELU:
        return pat_k_unary_fwd(op, dtype, y, s0, n, alpha);
    case PAT_OP_SUM:
    case PAT_OP_MEAN:
        return pat_k_sum_fwd(dtype, y, s0, it, m, alpha);
    case PAT_OP_MAX:
        return pat_k_max_fwd(dtype, y, aux, s0, it, m);
    case PAT_OP_RESHAPE:
        return pat_k_copy(dtype, y, s0, n);
    case PAT_OP_TRANSPOSE:
    case PAT_OP_INDEX:
        return pat_k_gather_fwd(dtype, y, s0, it, m);
    case PAT_OP_CONCAT:
        return pat_k_concat_fwd(dtype, y, s0, s1, m, k, n);
    case PAT_OP_MATMUL:
        return pat_k_matmul_fwd(dtype, y, s0, s1, it, m, k, n, stats);
    case PAT_OP_LINEAR:
        return pat_k_linear_fwd(dtype, y, s0, s1, s2, m, k, n, stats);
    case PAT_OP_SOFTMAX:
        return pat_k_softmax_fwd(dtype, y, s0, m, k, n, 0);
    case PAT_OP_LOG_SOFTMAX:
        return pat_k_softmax_fwd(dtype, y, s0, m, k, n, 1);
    case PAT_OP_CROSS_ENTROPY:
        return pat_k_xent_fwd(dtype, y, aux, s0, s1, m, k, n);
    case PAT_OP_MSE:
        return pat_k_mse_fwd(dtype, y, aux, s0, s1, n, k);
    case PAT_OP_CUSTOM:  /* m is the handle of the Python Function application */
        return pat_custom_callback(PAT_CB_FWD, m, 1, y, (void *)s0, (void *)s1, (void *)s2);
    case PAT_OP_COUNT:
        return PAT_EBADOP;
    }
    return PAT_EBADOP;
}

int pat_exec_bwd(int op, int dtype, const void *dy, const void *y, const void *aux,
                 const void *s0, const void *s1, const void *s2,
                 void *g0, void *g1, void *g2,
                 const pat_iter *it, int64_t m, int64_t k, int64_t n, double alpha,
                 pat_stats *stats) {
    (void)s2;  /* no backward rule reads a third source yet */
    if (op < 0 || op >= PAT_OP_COUNT) return PAT_EBADOP;
    if (dtype != PAT_F32 && dtype != PAT_F64) return PAT_EBADDTYPE;
    if (stats) stats->instrs += 1;
    switch ((pat_op)op) {
    case PAT_OP_ADD:
    case PAT_OP_SUB:
    case PAT_OP_MUL:
    case PAT_OP_DIV:
    case PAT_OP_POW:
    case PAT_OP_MAXIMUM:
    case PAT_OP_MINIMUM:
        return pat_k_binary_bwd(op, dtype, g0, g1, dy, s0, s1, it, alpha);
    case PAT_OP_WHERE:  /* the condition (source 0) has no gradient */
        return pat_k_where_bwd(dtype, g1, g2, dy, s0, it);
    case PAT_OP_NEG:
    case PAT_OP_EXP:
    case PAT_OP_LOG:
    case PAT_OP_SQRT:
    case PAT_OP_TANH:
    case PAT_OP_SIGMOID:
    case PAT_OP_RELU:
    case PAT_OP_LEAKY_RELU:
        if (!g0) return PAT_OK;
        return pat_k_unary_bwd(op, dtype, g0, dy, y, s0, n, alpha);
    case PAT_OP_SUM:
    case PAT_OP_MEAN:
        if (!g0) return PAT_OK;
        return pat_k_sum_bwd(dtype, g0, dy, it, alpha);
    case PAT_OP_MAX:
        if (!g0) return PAT_OK;
        return pat_k_max_bwd(dtype, g0, dy, y, aux, s0, it);
    case PAT_OP_RESHAPE:
        if (!g0) return PAT_OK;
        return pat_k_acc(dtype, g0, dy, n);
    case PAT_OP_TRANSPOSE:
    case PAT_OP_INDEX:
        if (!g0) return PAT_OK;
        return pat_k_gather_bwd(dtype, g0, dy, it, m);
    case PAT_OP_CONCAT:
        return pat_k_concat_bwd(dtype, g0, g1, dy, m, k, n);
    case PAT_OP_MATMUL:
        return pat_k_matmul_bwd(dtype, g0, g1, dy, s0, s1, it, m, k, n, stats);
    case PAT_OP_LINEAR:
        return pat_k_linear_bwd(dtype, g0, g1, g2, dy, s0, s1, m, k, n, stats);
    case PAT_OP_SOFTMAX:
        if (!g0) return PAT_OK;
        return pat_k_softmax_bwd(dtype, g0, dy, y, m, k, n, 0);
    case PAT_OP_LOG_SOFTMAX:
        if (!g0) return PAT_OK;
        return pat_k_softmax_bwd(dtype, g0, dy, y, m, k, n, 1);
    case PAT_OP_CROSS_ENTROPY:  /* labels (source 1) have no gradient */
        if (!g0) return PAT_OK;
        return pat_k_xent_bwd(dtype, g0, dy, aux, s1, m, k, n);
    case PAT_OP_MSE:
        return pat_k_mse_bwd(dtype, g0, g1, dy, aux, n, k);
    case PAT_OP_CUSTOM:
        return pat_custom_callback(PAT_CB_BWD, m, 1, (void *)dy, g0, g1, g2);
    case PAT_OP_COUNT:
        return PAT_EBADOP;
    }
    return PAT_EBADOP;
}

static int bad_slot(int32_t s, int64_t nslots) { return s < -1 || s >= nslots; }
static void *slot(void *const *table, int32_t s) { return s >= 0 ? table[s] : NULL; }

/* ---- NaN/Inf detection -----------------------------------------------------------------
   A scan reads each element's exponent bits as an integer (memcpy: no aliasing question)
   and ORs "all ones" over a block, which the compiler vectorises; only a block that has a
   hit is walked again for the exact index. */

enum { SCAN_BLOCK = 1024 };

static int64_t scan_f32(const float *x, int64_t n) {
    for (int64_t lo = 0; lo < n; lo += SCAN_BLOCK) {
        const int64_t hi = n - lo < SCAN_BLOCK ? n : lo + SCAN_BLOCK;
        uint32_t any = 0;
        for (int64_t i = lo; i < hi; i++) {
            uint32_t b;
            memcpy(&b, &x[i], sizeof b);
            any |= (uint32_t)((b & 0x7f800000u) == 0x7f800000u);
        }
        if (any)
            for (int64_t i = lo; i < hi; i++)
                if (!isfinite(x[i])) return i;
    }
    return -1;
}

static int64_t scan_f64(const double *x, int64_t n) {
    for (int64_t lo = 0; lo < n; lo += SCAN_BLOCK) {
        const int64_t hi = n - lo < SCAN_BLOCK ? n : lo + SCAN_BLOCK;
        uint64_t any = 0;
        for (int64_t i = lo; i < hi; i++) {
            uint64_t b;
            memcpy(&b, &x[i], sizeof b);
            any |= (uint64_t)((b & 0x7ff0000000000000u) == 0x7ff0000000000000u);
        }
        if (any)
            for (int64_t i = lo; i < hi; i++)
                if (!isfinite(x[i])) return i;
    }
    return -1;
}

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

/* An input of a rule that may be blamed: nseeds runs of n elements at p. */
typedef struct {
    int cause;
    const void *p;
    int64_t n;
    int64_t nseeds;
} pat_cand;

static int64_t size_of(const int64_t *sizes, int32_t s) { return s >= 0 ? sizes[s] : 0; }

/* Candidates read from tables: tab[src[i]] for float sources (cause0 + i), and the
   output and aux slots when `with_out`. Returns how many were added at c. */
static int cands_of(const pat_instr *ins, void *const *tab, const int64_t *sizes, int64_t K,
                    int cause0, int with_out, pat_cand *c) {
    int nc = 0;
    for (int i = 0; i < 3; i++)
        if (ins->src[i] >= 0 && float_src(ins->op, i))
            c[nc++] = (pat_cand){cause0 + i, tab[ins->src[i]], sizes[ins->src[i]], K};
    if (with_out) {
        c[nc++] = (pat_cand){PAT_CAUSE_OUT, slot(tab, ins->dst), size_of(sizes, ins->dst), 1};
        c[nc++] = (pat_cand){PAT_CAUSE_AUX, slot(tab, ins->aux), size_of(sizes, ins->aux), 1};
    }
    return nc;
}

static void anomaly_reset(pat_anomaly *an) {
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
static int report(pat_anomaly *an, const pat_instr *ins, int64_t t, int pass, int buffer,
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
        if (c[i].n > 0 && first_bad(ins->dtype, c[i].p, c[i].n * c[i].nseeds, &k, &w)) {
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
        if (s >= 0 && sizes[s] > 0 && first_bad(ins->dtype, slot(gtab, s), sizes[s] * K, &j, &v))
            return report(an, ins, t, pass, i, j, sizes[s], v, c, nc);
    }
    return PAT_OK;
}

int pat_check_fwd(const pat_instr *ins, int64_t record, void *const *bufs,
                  const int64_t *sizes, int64_t nbufs, pat_anomaly *anomaly) {
    if (!ins || !bufs || !sizes || !anomaly) return PAT_ENULL;
    if (ins->dst < 0 || ins->dst >= nbufs || bad_slot(ins->src[0], nbufs) ||
        bad_slot(ins->src[1], nbufs) || bad_slot(ins->src[2], nbufs))
        return PAT_EBADARG;
    if (ins->dtype != PAT_F32 && ins->dtype != PAT_F64) return PAT_EBADDTYPE;
    const int64_t n = sizes[ins->dst];
    int64_t j;
    double v;
    if (n <= 0 || !first_bad(ins->dtype, bufs[ins->dst], n, &j, &v)) return PAT_OK;
    pat_cand c[3];
    const int nc = cands_of(ins, bufs, sizes, 1, PAT_CAUSE_SRC0, 0, c);
    anomaly_reset(anomaly);
    return report(anomaly, ins, record, PAT_PASS_FWD, -1, j, n, v, c, nc);
}

/* After the one-seed backward rule of record t. */
static int check_bwd(const pat_instr *ins, int64_t t, void *const *vals, void *const *grads,
                     const int64_t *sizes, pat_anomaly *an) {
    pat_cand c[6];
    c[0] = (pat_cand){PAT_CAUSE_DY, grads[ins->dst], sizes[ins->dst], 1};
    const int nc = 1 + cands_of(ins, vals, sizes, 1, PAT_CAUSE_SRC0, 1, c + 1);
    return check_src_grads(ins, t, PAT_PASS_BWD, grads, sizes, 1, c, nc, an);
}

/* The reverse sweep; an != NULL: checked (sizes given). */
static int backward_sweep(const pat_instr *tape, int64_t ntape, const pat_iter *iters,
                          int64_t niters, void *const *vals, void *const *grads,
                          const int64_t *sizes, int64_t nslots, pat_stats *stats,
                          int64_t *failed, pat_anomaly *an) {
    for (int64_t t = ntape - 1; t >= 0; t--) {
        const pat_instr *ins = &tape[t];
        int rc = PAT_OK;
        if (bad_slot(ins->dst, nslots) || bad_slot(ins->aux, nslots) ||
            bad_slot(ins->src[0], nslots) || bad_slot(ins->src[1], nslots) ||
            bad_slot(ins->src[2], nslots) || ins->iter < -1 || ins->iter >= niters)
            rc = PAT_EBADARG;
        void *dy = rc == PAT_OK ? slot(grads, ins->dst) : NULL;
        if (rc == PAT_OK && dy != NULL) {
            const pat_iter *it = ins->iter >= 0 ? &iters[ins->iter] : NULL;
            rc = pat_exec_bwd(ins->op, ins->dtype, dy, slot(vals, ins->dst),
                              slot(vals, ins->aux), slot(vals, ins->src[0]),
                              slot(vals, ins->src[1]), slot(vals, ins->src[2]),
                              slot(grads, ins->src[0]), slot(grads, ins->src[1]),
                              slot(grads, ins->src[2]), it, ins->m, ins->k, ins->n,
                              ins->alpha, stats);
            if (rc == PAT_OK && an) rc = check_bwd(ins, t, vals, grads, sizes, an);
        }
        /* a record whose output gradient is NULL: nothing downstream asked for it */
        if (rc != PAT_OK) {
            if (failed) *failed = t;
            return rc;
        }
    }
    return PAT_OK;
}

int pat_tape_backward(const pat_instr *tape, int64_t ntape, const pat_iter *iters,
                      int64_t niters, void *const *vals, void *const *grads, int64_t nslots,
                      pat_stats *stats, int64_t *failed) {
    return backward_sweep(tape, ntape, iters, niters, vals, grads, NULL, nslots, stats, failed,
                          NULL);
}

int pat_tape_backward_checked(const pat_instr *tape, int64_t ntape, const pat_iter *iters,
                              int64_t niters, void *const *vals, void *const *grads,
                              const int64_t *sizes, int64_t nslots, pat_stats *stats,
                              int64_t *failed, pat_anomaly *anomaly) {
    if (!anomaly || (!sizes && nslots > 0)) return PAT_ENULL;
    anomaly_reset(anomaly);
    return backward_sweep(tape, ntape, iters, niters, vals, grads, sizes, nslots, stats, failed,
                          anomaly);
}

/* ---- batched sweeps: forward mode, reverse mode for K seeds, second-order adjoints ----

   The buffer of slot s in tans, grads and atans holds K seeds, sizes[s] elements each;
   values (vals) and first-order adjoints of the second-order sweep (adjs) hold one.
   Elementwise, reduction and loss rules run once per seed (a loop inside this call);
   dense rules push every seed through one GEMM (tangent.c). */

static int64_t esz(int dt) { return dt == PAT_F64 ? 8 : 4; }

/* seed j of a batched buffer whose seeds are n elements long; NULL stays NULL */
static void *at(void *p, int64_t j, int64_t n, int dt) {
    return p ? (char *)p + j * n * esz(dt) : NULL;
}

static int is_dense(int op) { return op == PAT_OP_LINEAR || op == PAT_OP_MATMUL; }

/* The checks every batched sweep makes on an instruction before running it. */
static int check_instr(const pat_instr *ins, int64_t nslots, int64_t niters) {
    if (bad_slot(ins->dst, nslots) || ins->dst < 0 || bad_slot(ins->aux, nslots) ||
        bad_slot(ins->src[0], nslots) || bad_slot(ins->src[1], nslots) ||
        bad_slot(ins->src[2], nslots) || ins->iter < -1 || ins->iter >= niters)
        return PAT_EBADARG;
    if (ins->op < 0 || ins->op >= PAT_OP_COUNT) return PAT_EBADOP;
    if (ins->dtype != PAT_F32 && ins->dtype != PAT_F64) return PAT_EBADDTYPE;
    return PAT_OK;
}

/* Tangent rule of one instruction for K seeds: tans[dst] += J tans[src]. */
static int exec_tan(const pat_instr *ins, const pat_iter *it, void *const *vals,
                    void *const *tans, const int64_t *sizes, int64_t K, pat_scratch *sc,
                    pat_stats *st) {
    const int dt = ins->dtype, op = ins->op;
    const int32_t *s = ins->src;
    void *ty = tans[ins->dst];
    void *t0 = slot(tans, s[0]), *t1 = slot(tans, s[1]), *t2 = slot(tans, s[2]);
    const void *y = slot(vals, ins->dst), *aux = slot(vals, ins->aux);
    const void *v0 = slot(vals, s[0]), *v1 = slot(vals, s[1]);
    const int64_t ny = sizes[ins->dst], n0 = size_of(sizes, s[0]), n1 = size_of(sizes, s[1]),
                  n2 = size_of(sizes, s[2]);
    int rc = PAT_OK;
    switch ((pat_op)op) {
    case PAT_OP_ADD:
    case PAT_OP_SUB:
    case PAT_OP_MUL:
    case PAT_OP_DIV:
    case PAT_OP_POW:
    case PAT_OP_MAXIMUM:
    case PAT_OP_MINIMUM:
        for (int64_t j = 0; j < K && rc == PAT_OK; j++)
            rc = pat_k_binary_tan(op, dt, at(ty, j, ny, dt), at(t0, j, n0, dt),
                                  at(t1, j, n1, dt), v0, v1, it, ins->alpha);
        return rc;
    case PAT_OP_WHERE:  /* source 0 is the condition, a constant */
        for (int64_t j = 0; j < K && rc == PAT_OK; j++)
            rc = pat_k_where_tan(dt, at(ty, j, ny, dt), v0, at(t1, j, n1, dt),
                                 at(t2, j, n2, dt), it);
        return rc;
    case PAT_OP_NEG:
    case PAT_OP_EXP:
    case PAT_OP_LOG:
    case PAT_OP_SQRT:
    case PAT_OP_TANH:
    case PAT_OP_SIGMOID:
    case PAT_OP_RELU:
    case PAT_OP_LEAKY_RELU:
        /* J is diagonal, so J t is the backward kernel applied to t */
        for (int64_t j = 0; t0 && j < K && rc == PAT_OK; j++)
            rc = pat_k_unary_bwd(op, dt, at(ty, j, ny, dt), at(t0, j, n0, dt), y, v0, ins->n,
                                 ins->alpha);
        return rc;
    case PAT_OP_SUM:
    case PAT_OP_MEAN:
        for (int64_t j = 0; t0 && j < K && rc == PAT_OK; j++)
            rc = pat_k_sum_acc(dt, at(ty, j, ny, dt), at(t0, j, n0, dt), it, ins->alpha);
        return rc;
    case PAT_OP_MAX:
        for (int64_t j = 0; t0 && j < K && rc == PAT_OK; j++)
            rc = pat_k_max_tan(dt, at(ty, j, ny, dt), at(t0, j, n0, dt), y, aux, v0, it);
        return rc;
    case PAT_OP_RESHAPE:
        for (int64_t j = 0; t0 && j < K && rc == PAT_OK; j++)
            rc = pat_k_acc(dt, at(ty, j, ny, dt), at(t0, j, n0, dt), ins->n);
        return rc;
    case PAT_OP_TRANSPOSE:
    case PAT_OP_INDEX:
        for (int64_t j = 0; t0 && j < K && rc == PAT_OK; j++)
            rc = pat_k_gather_tan(dt, at(ty, j, ny, dt), at(t0, j, n0, dt), it, ins->m);
        return rc;
    case PAT_OP_CONCAT:
        for (int64_t j = 0; j < K && rc == PAT_OK; j++)
            rc = pat_k_concat_tan(dt, at(ty, j, ny, dt), at(t0, j, n0, dt), at(t1, j, n1, dt),
                                  ins->m, ins->k, ins->n);
        return rc;
    case PAT_OP_MATMUL:  /* ty = ta b + a tb */
        if (t0) rc = pat_k_matmul_acc_k(dt, K, ty, ny, t0, n0, v1, 0, it, ins->m, ins->k,
                                        ins->n, sc, st);
        if (rc == PAT_OK && t1)
            rc = pat_k_matmul_acc_k(dt, K, ty, ny, v0, 0, t1, n1, it, ins->m, ins->k, ins->n,
                                    sc, st);
        return rc;
    case PAT_OP_LINEAR:  /* ty = tx w^T + x tw^T + tb */
        if (t0) rc = pat_k_linear_acc_k(dt, K, ty, ny, t0, n0, v1, 0, ins->m, ins->k, ins->n,
                                        sc, st);
        if (rc == PAT_OK && t1)
            rc = pat_k_linear_acc_k(dt, K, ty, ny, v0, 0, t1, n1, ins->m, ins->k, ins->n, sc,
                                    st);
        for (int64_t j = 0; t2 && !sc->dry && j < K && rc == PAT_OK; j++)
            rc = pat_k_bias_acc(dt, at(ty, j, ny, dt), at(t2, j, n2, dt), ins->m, ins->n);
        return rc;
    case PAT_OP_SOFTMAX:  /* J = diag(y) - y y^T is symmetric: the backward kernel */
        for (int64_t j = 0; t0 && j < K && rc == PAT_OK; j++)
            rc = pat_k_softmax_bwd(dt, at(ty, j, ny, dt), at(t0, j, n0, dt), y, ins->m, ins->k,
                                   ins->n, 0);
        return rc;
    case PAT_OP_LOG_SOFTMAX:
        for (int64_t j = 0; t0 && j < K && rc == PAT_OK; j++)
            rc = pat_k_log_softmax_tan(dt, at(ty, j, ny, dt), at(t0, j, n0, dt), y, ins->m,
                                       ins->k, ins->n);
        return rc;
    case PAT_OP_CROSS_ENTROPY:  /* labels (source 1) carry no tangent */
        for (int64_t j = 0; t0 && j < K && rc == PAT_OK; j++)
            rc = pat_k_xent_tan(dt, at(ty, j, ny, dt), at(t0, j, n0, dt), aux, v1, ins->m,
                                ins->k, ins->n);
        return rc;
    case PAT_OP_MSE:
        for (int64_t j = 0; j < K && rc == PAT_OK; j++)
            rc = pat_k_mse_tan(dt, at(ty, j, ny, dt), at(t0, j, n0, dt), at(t1, j, n1, dt), aux,
                               ins->n, ins->k);
        return rc;
    case PAT_OP_CUSTOM:
        return pat_custom_callback(PAT_CB_TAN, ins->m, K, ty, t0, t1, t2);
    case PAT_OP_COUNT:
        return PAT_EBADOP;
    }
    return PAT_EBADOP;
}

/* Backward rule of one instruction for K cotangents: g_i += J_i^T dy, all batched. */
static int exec_bwd_k(const pat_instr *ins, const pat_iter *it, void *const *vals, void *dy,
                      void *g0, void *g1, void *g2, const int64_t *sizes, int64_t K,
                      pat_scratch *sc, pat_stats *st) {
    const int dt = ins->dtype, op = ins->op;
    const int32_t *s = ins->src;
    const void *y = slot(vals, ins->dst), *aux = slot(vals, ins->aux);
    const void *v0 = slot(vals, s[0]), *v1 = slot(vals, s[1]), *v2 = slot(vals, s[2]);
    const int64_t ny = sizes[ins->dst], n0 = size_of(sizes, s[0]), n1 = size_of(sizes, s[1]),
                  n2 = size_of(sizes, s[2]);
    int rc = PAT_OK;
    switch ((pat_op)op) {
    case PAT_OP_ADD:
    case PAT_OP_SUB:
    case PAT_OP_MUL:
    case PAT_OP_DIV:
    case PAT_OP_POW:
    case PAT_OP_MAXIMUM:
    case PAT_OP_MINIMUM:
    case PAT_OP_WHERE:
    case PAT_OP_NEG:
    case PAT_OP_EXP:
    case PAT_OP_LOG:
    case PAT_OP_SQRT:
    case PAT_OP_TANH:
    case PAT_OP_SIGMOID:
    case PAT_OP_RELU:
    case PAT_OP_LEAKY_RELU:
    case PAT_OP_SUM:
    case PAT_OP_MEAN:
    case PAT_OP_MAX:
    case PAT_OP_RESHAPE:
    case PAT_OP_TRANSPOSE:
    case PAT_OP_INDEX:
    case PAT_OP_CONCAT:
    case PAT_OP_SOFTMAX:
    case PAT_OP_LOG_SOFTMAX:
    case PAT_OP_CROSS_ENTROPY:
    case PAT_OP_MSE:
        /* the one-seed backward rule, once per seed */
        for (int64_t j = 0; j < K && rc == PAT_OK; j++)
            rc = pat_exec_bwd(op, dt, at(dy, j, ny, dt), y, aux, v0, v1, v2, at(g0, j, n0, dt),
                              at(g1, j, n1, dt), at(g2, j, n2, dt), it, ins->m, ins->k, ins->n,
                              ins->alpha, NULL);
        return rc;
    case PAT_OP_MATMUL:
        return pat_k_matmul_bwd_k(dt, K, g0, n0, g1, n1, dy, ny, v0, 0, v1, 0, it, ins->m,
                                  ins->k, ins->n, sc, st);
    case PAT_OP_LINEAR:
        return pat_k_linear_bwd_k(dt, K, g0, n0, g1, n1, g2, n2, dy, ny, v0, 0, v1, 0, ins->m,
                                  ins->k, ins->n, sc, st);
    case PAT_OP_CUSTOM:
        return pat_custom_callback(PAT_CB_BWD, ins->m, K, dy, g0, g1, g2);
    case PAT_OP_COUNT:
        return PAT_EBADOP;
    }
    return PAT_EBADOP;
}

/* Second-order term of one instruction for K directions: g_i += (dJ_i[tans])^T ybar. */
static int exec_soa(const pat_instr *ins, const pat_iter *it, void *const *vals,
                    void *const *tans, const void *ybar, void *g0, void *g1, void *g2,
                    const int64_t *sizes, int64_t K, pat_scratch *sc, pat_stats *st) {
    const int dt = ins->dtype, op = ins->op;
    const int32_t *s = ins->src;
    void *ty = tans[ins->dst];
    void *t0 = slot(tans, s[0]), *t1 = slot(tans, s[1]);
    const void *y = slot(vals, ins->dst), *aux = slot(vals, ins->aux);
    const void *v0 = slot(vals, s[0]), *v1 = slot(vals, s[1]);
    const int64_t ny = sizes[ins->dst], n0 = size_of(sizes, s[0]), n1 = size_of(sizes, s[1]);
    int rc = PAT_OK;
    switch ((pat_op)op) {
    case PAT_OP_ADD:          /* linear or piecewise linear: no second-order term */
    case PAT_OP_SUB:
    case PAT_OP_MAXIMUM:
    case PAT_OP_MINIMUM:
    case PAT_OP_WHERE:
    case PAT_OP_NEG:
    case PAT_OP_RELU:
    case PAT_OP_LEAKY_RELU:
    case PAT_OP_SUM:
    case PAT_OP_MEAN:
    case PAT_OP_MAX:
    case PAT_OP_RESHAPE:
    case PAT_OP_TRANSPOSE:
    case PAT_OP_INDEX:
    case PAT_OP_CONCAT:
        return PAT_OK;
    case PAT_OP_MUL:
    case PAT_OP_DIV:
    case PAT_OP_POW:
        for (int64_t j = 0; j < K && rc == PAT_OK; j++)
            rc = pat_k_binary_soa(op, dt, at(g0, j, n0, dt), at(g1, j, n1, dt), ybar, v0, v1,
                                  at(t0, j, n0, dt), at(t1, j, n1, dt), it);
        return rc;
    case PAT_OP_EXP:
    case PAT_OP_LOG:
    case PAT_OP_SQRT:
    case PAT_OP_TANH:
    case PAT_OP_SIGMOID:
        for (int64_t j = 0; g0 && t0 && j < K && rc == PAT_OK; j++)
            rc = pat_k_unary_soa(op, dt, at(g0, j, n0, dt), ybar, y, v0, at(t0, j, n0, dt),
                                 ins->n);
        return rc;
    case PAT_OP_MATMUL:  /* ga += ybar tb^T, gb += ta^T ybar: the backward with tangents */
        return pat_k_matmul_bwd_k(dt, K, t1 ? g0 : NULL, n0, t0 ? g1 : NULL, n1, ybar, 0, t0,
                                  n0, t1, n1, it, ins->m, ins->k, ins->n, sc, st);
    case PAT_OP_LINEAR:  /* gx += ybar tw, gw += ybar^T tx */
        return pat_k_linear_bwd_k(dt, K, t1 ? g0 : NULL, n0, t0 ? g1 : NULL, n1, NULL, 0, ybar,
                                  0, t0, n0, t1, n1, ins->m, ins->k, ins->n, sc, st);
    case PAT_OP_SOFTMAX:
    case PAT_OP_LOG_SOFTMAX:
        for (int64_t j = 0; g0 && ty && j < K && rc == PAT_OK; j++)
            rc = pat_k_softmax_soa(dt, at(g0, j, n0, dt), ybar, y, at(ty, j, ny, dt), ins->m,
                                   ins->k, ins->n, op == PAT_OP_LOG_SOFTMAX);
        return rc;
    case PAT_OP_CROSS_ENTROPY:
        for (int64_t j = 0; g0 && t0 && j < K && rc == PAT_OK; j++)
            rc = pat_k_xent_soa(dt, at(g0, j, n0, dt), ybar, aux, v1, at(t0, j, n0, dt), ins->m,
                                ins->k, ins->n);
        return rc;
    case PAT_OP_MSE:
        for (int64_t j = 0; j < K && rc == PAT_OK; j++)
            rc = pat_k_mse_soa(dt, at(g0, j, n0, dt), at(g1, j, n1, dt), ybar, at(t0, j, n0, dt),
                               at(t1, j, n1, dt), ins->n, ins->k);
        return rc;
    case PAT_OP_CUSTOM:
        return pat_custom_callback(PAT_CB_SOA, ins->m, K, (void *)ybar, g0, g1, g2);
    case PAT_OP_COUNT:
        return PAT_EBADOP;
    }
    return PAT_EBADOP;
}

/* Common arguments of the three batched sweeps. */
static int batch_args_ok(int64_t ntape, int64_t nslots, const int64_t *sizes, int64_t nseeds,
                         int64_t nscratch) {
    return ntape >= 0 && nslots >= 0 && nseeds >= 1 && nscratch >= 0 && (sizes || nslots == 0);
}

/* After the tangent rule of record t wrote tans[dst] (K seeds). */
static int check_tan(const pat_instr *ins, int64_t t, void *const *vals, void *const *tans,
                     const int64_t *sizes, int64_t K, pat_anomaly *an) {
    const int64_t n = sizes[ins->dst];
    int64_t j;
    double v;
    if (n <= 0 || !first_bad(ins->dtype, tans[ins->dst], n * K, &j, &v)) return PAT_OK;
    pat_cand c[8];
    int nc = cands_of(ins, tans, sizes, K, PAT_CAUSE_T0, 0, c);
    nc += cands_of(ins, vals, sizes, 1, PAT_CAUSE_SRC0, 1, c + nc);
    return report(an, ins, t, PAT_PASS_TAN, -1, j, n, v, c, nc);
}

static int tangent_sweep(const pat_instr *tape, int64_t ntape, const pat_iter *iters,
                         int64_t niters, void *const *vals, void *const *tans,
                         const int64_t *sizes, int64_t nslots, int64_t nseeds, void *scratch,
                         int64_t nscratch, int64_t *need, pat_stats *stats, int64_t *failed,
                         pat_anomaly *an) {
    if (!batch_args_ok(ntape, nslots, sizes, nseeds, nscratch)) return PAT_EBADARG;
    pat_scratch sc = {scratch, scratch ? nscratch : 0, 0, need != NULL};
    for (int64_t t = 0; t < ntape; t++) {
        const pat_instr *ins = &tape[t];
        int rc = check_instr(ins, nslots, niters);
        if (rc == PAT_OK && tans[ins->dst] != NULL && !(sc.dry && !is_dense(ins->op))) {
            if (stats && !sc.dry) stats->instrs += 1;
            rc = exec_tan(ins, ins->iter >= 0 ? &iters[ins->iter] : NULL, vals, tans, sizes,
                          nseeds, &sc, sc.dry ? NULL : stats);
            if (rc == PAT_OK && an && !sc.dry)
                rc = check_tan(ins, t, vals, tans, sizes, nseeds, an);
        }
        if (rc != PAT_OK) {
            if (failed) *failed = t;
            return rc;
        }
    }
    if (need) *need = sc.need;
    return PAT_OK;
}

/* After the backward rule of record t for K cotangents. */
static int check_bwd_k(const pat_instr *ins, int64_t t, void *const *vals, void *const *grads,
                       const int64_t *sizes, int64_t K, pat_anomaly *an) {
    pat_cand c[6];
    c[0] = (pat_cand){PAT_CAUSE_DY, grads[ins->dst], sizes[ins->dst], K};
    const int nc = 1 + cands_of(ins, vals, sizes, 1, PAT_CAUSE_SRC0, 1, c + 1);
    return check_src_grads(ins, t, PAT_PASS_BWD, grads, sizes, K, c, nc, an);
}

static int backward_batch_sweep(const pat_instr *tape, int64_t ntape, const pat_iter *iters,
                                int64_t niters, void *const *vals, void *const *grads,
                                const int64_t *sizes, int64_t nslots, int64_t nseeds,
                                void *scratch, int64_t nscratch, int64_t *need,
                                pat_stats *stats, int64_t *failed, pat_anomaly *an) {
    if (!batch_args_ok(ntape, nslots, sizes, nseeds, nscratch)) return PAT_EBADARG;
    pat_scratch sc = {scratch, scratch ? nscratch : 0, 0, need != NULL};
    for (int64_t t = ntape - 1; t >= 0; t--) {
        const pat_instr *ins = &tape[t];
        int rc = check_instr(ins, nslots, niters);
        if (rc == PAT_OK && grads[ins->dst] != NULL && !(sc.dry && !is_dense(ins->op))) {
            if (stats && !sc.dry) stats->instrs += 1;
            rc = exec_bwd_k(ins, ins->iter >= 0 ? &iters[ins->iter] : NULL, vals,
                            grads[ins->dst], slot(grads, ins->src[0]),
                            slot(grads, ins->src[1]), slot(grads, ins->src[2]), sizes, nseeds,
                            &sc, sc.dry ? NULL : stats);
            if (rc == PAT_OK && an && !sc.dry)
                rc = check_bwd_k(ins, t, vals, grads, sizes, nseeds, an);
        }
        if (rc != PAT_OK) {
            if (failed) *failed = t;
            return rc;
        }
    }
    if (need) *need = sc.need;
    return PAT_OK;
}

/* After the first- and second-order rules of record t wrote atans[src] (K directions). */
static int check_hvp(const pat_instr *ins, int64_t t, void *const *vals, void *const *tans,
                     void *const *adjs, void *const *atans, const int64_t *sizes, int64_t K,
                     pat_anomaly *an) {
    const int64_t ny = sizes[ins->dst];
    pat_cand c[11];
    c[0] = (pat_cand){PAT_CAUSE_DY, atans[ins->dst], ny, K};
    c[1] = (pat_cand){PAT_CAUSE_ADJ, adjs[ins->dst], ny, 1};
    c[2] = (pat_cand){PAT_CAUSE_TY, tans[ins->dst], ny, K};
    int nc = 3 + cands_of(ins, tans, sizes, K, PAT_CAUSE_T0, 0, c + 3);
    nc += cands_of(ins, vals, sizes, 1, PAT_CAUSE_SRC0, 1, c + nc);
    return check_src_grads(ins, t, PAT_PASS_HVP, atans, sizes, K, c, nc, an);
}

static int hvp_sweep(const pat_instr *tape, int64_t ntape, const pat_iter *iters,
                     int64_t niters, void *const *vals, void *const *tans, void *const *adjs,
                     void *const *atans, const int64_t *sizes, int64_t nslots, int64_t nseeds,
                     void *scratch, int64_t nscratch, int64_t *need, pat_stats *stats,
                     int64_t *failed, pat_anomaly *an) {
    if (!batch_args_ok(ntape, nslots, sizes, nseeds, nscratch)) return PAT_EBADARG;
    pat_scratch sc = {scratch, scratch ? nscratch : 0, 0, need != NULL};
    for (int64_t t = ntape - 1; t >= 0; t--) {
        const pat_instr *ins = &tape[t];
        int rc = check_instr(ins, nslots, niters);
        if (rc == PAT_OK && atans[ins->dst] != NULL && !(sc.dry && !is_dense(ins->op))) {
            const pat_iter *it = ins->iter >= 0 ? &iters[ins->iter] : NULL;
            void *g0 = slot(atans, ins->src[0]), *g1 = slot(atans, ins->src[1]),
                 *g2 = slot(atans, ins->src[2]);
            pat_stats *st = sc.dry ? NULL : stats;
            if (st) st->instrs += 1;
            /* first order: the backward of the adjoint's tangent, for every direction */
            rc = exec_bwd_k(ins, it, vals, atans[ins->dst], g0, g1, g2, sizes, nseeds, &sc, st);
            /* second order: the tangent of the backward rule, at the value's adjoint */
            if (rc == PAT_OK && adjs[ins->dst] != NULL)
                rc = exec_soa(ins, it, vals, tans, adjs[ins->dst], g0, g1, g2, sizes, nseeds,
                              &sc, st);
            if (rc == PAT_OK && an && !sc.dry)
                rc = check_hvp(ins, t, vals, tans, adjs, atans, sizes, nseeds, an);
        }
        if (rc != PAT_OK) {
            if (failed) *failed = t;
            return rc;
        }
    }
    if (need) *need = sc.need;
    return PAT_OK;
}

/* ---- the public batched sweeps: unchecked (an = NULL) and checked --------------------- */

int pat_tape_tangent(const pat_instr *tape, int64_t ntape, const pat_iter *iters,
                     int64_t niters, void *const *vals, void *const *tans,
                     const int64_t *sizes, int64_t nslots, int64_t nseeds, void *scratch,
                     int64_t nscratch, int64_t *need, pat_stats *stats, int64_t *failed) {
    return tangent_sweep(tape, ntape, iters, niters, vals, tans, sizes, nslots, nseeds, scratch,
                         nscratch, need, stats, failed, NULL);
}

int pat_tape_tangent_checked(const pat_instr *tape, int64_t ntape, const pat_iter *iters,
                             int64_t niters, void *const *vals, void *const *tans,
                             const int64_t *sizes, int64_t nslots, int64_t nseeds,
                             void *scratch, int64_t nscratch, int64_t *need, pat_stats *stats,
                             int64_t *failed, pat_anomaly *anomaly) {
    if (!anomaly) return PAT_ENULL;
    anomaly_reset(anomaly);
    return tangent_sweep(tape, ntape, iters, niters, vals, tans, sizes, nslots, nseeds, scratch,
                         nscratch, need, stats, failed, anomaly);
}

int pat_tape_backward_batch(const pat_instr *tape, int64_t ntape, const pat_iter *iters,
                            int64_t niters, void *const *vals, void *const *grads,
                            const int64_t *sizes, int64_t nslots, int64_t nseeds,
                            void *scratch, int64_t nscratch, int64_t *need, pat_stats *stats,
                            int64_t *failed) {
    return backward_batch_sweep(tape, ntape, iters, niters, vals, grads, sizes, nslots, nseeds,
                                scratch, nscratch, need, stats, failed, NULL);
}

int pat_tape_backward_batch_checked(const pat_instr *tape, int64_t ntape,
                                    const pat_iter *iters, int64_t niters, void *const *vals,
                                    void *const *grads, const int64_t *sizes, int64_t nslots,
                                    int64_t nseeds, void *scratch, int64_t nscratch,
                                    int64_t *need, pat_stats *stats, int64_t *failed,
                                    pat_anomaly *anomaly) {
    if (!anomaly) return PAT_ENULL;
    anomaly_reset(anomaly);
    return backward_batch_sweep(tape, ntape, iters, niters, vals, grads, sizes, nslots, nseeds,
                                scratch, nscratch, need, stats, failed, anomaly);
}

int pat_tape_hvp(const pat_instr *tape, int64_t ntape, const pat_iter *iters, int64_t niters,
                 void *const *vals, void *const *tans, void *const *adjs, void *const *atans,
                 const int64_t *sizes, int64_t nslots, int64_t nseeds, void *scratch,
                 int64_t nscratch, int64_t *need, pat_stats *stats, int64_t *failed) {
    return hvp_sweep(tape, ntape, iters, niters, vals, tans, adjs, atans, sizes, nslots, nseeds,
                     scratch, nscratch, need, stats, failed, NULL);
}

int pat_tape_hvp_checked(const pat_instr *tape, int64_t ntape, const pat_iter *iters,
                         int64_t niters, void *const *vals, void *const *tans,
                         void *const *adjs, void *const *atans, const int64_t *sizes,
                         int64_t nslots, int64_t nseeds, void *scratch, int64_t nscratch,
                         int64_t *need, pat_stats *stats, int64_t *failed,
                         pat_anomaly *anomaly) {
    if (!anomaly) return PAT_ENULL;
    anomaly_reset(anomaly);
    return hvp_sweep(tape, ntape, iters, niters, vals, tans, adjs, atans, sizes, nslots, nseeds,
                     scratch, nscratch, need, stats, failed, anomaly);
}
