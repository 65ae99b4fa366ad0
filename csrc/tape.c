/* tape.c: the op table and the sweeps.

   Contract: one `switch` on the opcode per sweep, with no `default:`, built with
   -Werror=switch, so an op added to pat_op without a case here fails the build. The op
   names come from a designated-initializer table checked against PAT_OP_COUNT, and
   Python checks them against its registry at import. The reverse sweep is a loop from the
   last record to the first: the tape is the order, there is no graph search and no
   recursion. Nothing here allocates, prints, aborts or keeps state between calls. */
#include <cblas.h>

#include "pat.h"

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
    case PAT_OP_COUNT:
        return PAT_EBADOP;
    }
    return PAT_EBADOP;
}

static int bad_slot(int32_t s, int64_t nslots) { return s < -1 || s >= nslots; }
static void *slot(void *const *table, int32_t s) { return s >= 0 ? table[s] : NULL; }

int pat_tape_backward(const pat_instr *tape, int64_t ntape, const pat_iter *iters,
                      int64_t niters, void *const *vals, void *const *grads, int64_t nslots,
                      pat_stats *stats, int64_t *failed) {
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
        }
        /* a record whose output gradient is NULL: nothing downstream asked for it */
        if (rc != PAT_OK) {
            if (failed) *failed = t;
            return rc;
        }
    }
    return PAT_OK;
}
