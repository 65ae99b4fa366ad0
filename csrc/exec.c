/* exec.c: the op tables and one op's forward and reverse rule.

   Contract: the name and reads tables are expanded from ops.def (and checked against
   PAT_OP_COUNT); Python reads them back at import. pat_exec_fwd and pat_exec_bwd run one
   instruction for one seed: eager mode runs every forward kernel through pat_exec_fwd,
   the reverse sweep (sweeps.c) every backward rule through pat_exec_bwd, and replay
   (replay.c) both, which is why replay and eager agree bitwise. Each is a `switch` on the
   opcode with no `default:`, built with -Werror=switch: the case labels of the unary and
   binary families come from their ops.def rows, and every other op needs a case written
   here, or the build fails. Nothing here allocates, prints, aborts or keeps state. */
#include <cblas.h>

#include "pat.h"

static const char *const OP_NAMES[] = {
#define PAT_OP(NAME, name, READS) [PAT_OP_##NAME] = #name,
#include "ops.def"
};
_Static_assert(sizeof OP_NAMES / sizeof OP_NAMES[0] == PAT_OP_COUNT, "OP_NAMES vs pat_op");

static const int OP_READS[] = {
#define PAT_OP(NAME, name, READS) [PAT_OP_##NAME] = PAT_READS_##READS,
#include "ops.def"
};
_Static_assert(sizeof OP_READS / sizeof OP_READS[0] == PAT_OP_COUNT, "OP_READS vs pat_op");

int pat_abi_version(void) { return PAT_ABI_VERSION; }

const char *pat_op_name(int op) {
    if (op < 0 || op >= PAT_OP_COUNT) return "?";
    return OP_NAMES[op];
}

int pat_op_reads(int op) {
    if (op < 0 || op >= PAT_OP_COUNT) return -1;
    return OP_READS[op];
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

/* The checks both rules make before their switch; counts the instruction. */
static int exec_begin(int op, int dtype, pat_stats *stats) {
    if (op < 0 || op >= PAT_OP_COUNT) return PAT_EBADOP;
    if (dtype != PAT_F32 && dtype != PAT_F64) return PAT_EBADDTYPE;
    if (stats) stats->instrs += 1;
    return PAT_OK;
}

int pat_exec_fwd(int op, int dtype, void *y, void *aux,
                 const void *s0, const void *s1, const void *s2,
                 const pat_iter *it, int64_t m, int64_t k, int64_t n, double alpha,
                 pat_stats *stats) {
    const int rc = exec_begin(op, dtype, stats);
    if (rc != PAT_OK) return rc;
    switch ((pat_op)op) {
#define PAT_OP(NAME, name, READS)
#define PAT_BINARY(NAME, name, READS, ORDER) case PAT_OP_##NAME:
#include "ops.def"
        return pat_k_binary_fwd(op, dtype, y, s0, s1, it, alpha);
#define PAT_OP(NAME, name, READS)
#define PAT_UNARY(NAME, name, READS, ORDER) case PAT_OP_##NAME:
#include "ops.def"
        return pat_k_unary_fwd(op, dtype, y, s0, n, alpha);
    case PAT_OP_WHERE:
        return pat_k_where_fwd(dtype, y, s0, s1, s2, it);
    case PAT_OP_SUM:
    case PAT_OP_MEAN:
        return pat_k_sum_fwd(dtype, y, s0, it, m, alpha);
    case PAT_OP_MAX:
        return pat_k_max_fwd(dtype, y, aux, s0, it, m);
    case PAT_OP_RESHAPE:
        return pat_k_copy(dtype, y, s0, n);
    case PAT_OP_TRANSPOSE:
    case PAT_OP_INDEX:
        return pat_k_gather(dtype, y, s0, it, m, 0);
    case PAT_OP_CONCAT:
        return pat_k_concat(dtype, y, s0, s1, m, k, n, 0);
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
    case PAT_OP_STACKED_LINEAR:
        return pat_k_stacked_linear_fwd(dtype, y, s0, s1, s2, it, m, k, n, stats);
    case PAT_OP_DROPOUT:  /* s1 is the generator state, alpha the drop probability */
        return pat_k_dropout_fwd(dtype, y, aux, s0, s1, n, alpha);
    case PAT_OP_PICK:  /* s1 the int64 labels, n the ignored label */
        return pat_k_pick_fwd(dtype, y, s0, s1, m, k, n);
    case PAT_OP_CAST:  /* m the source's dtype */
        return pat_k_cast(dtype, y, (int)m, s0, n, 0);
    case PAT_OP_EMBEDDING:  /* s1 the int64 indices; alpha the padding index (-1: none) */
        return pat_k_rows_fwd(dtype, y, s0, s1, m, k, n);
    case PAT_OP_GATHER:  /* s1 the int64 offsets: n of them, into x's k elements */
        return pat_k_take_fwd(dtype, y, s0, s1, n, k);
    case PAT_OP_SCATTER_ADD:  /* s1 the int64 offsets: n of them, into y's k elements */
        return pat_k_scatter_fwd(dtype, y, s0, s1, n, k);
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
    const int rc = exec_begin(op, dtype, stats);
    if (rc != PAT_OK) return rc;
    switch ((pat_op)op) {
#define PAT_OP(NAME, name, READS)
#define PAT_BINARY(NAME, name, READS, ORDER) case PAT_OP_##NAME:
#include "ops.def"
        return pat_k_binary_bwd(op, dtype, g0, g1, dy, s0, s1, it, alpha);
#define PAT_OP(NAME, name, READS)
#define PAT_UNARY(NAME, name, READS, ORDER) case PAT_OP_##NAME:
#include "ops.def"
        if (!g0) return PAT_OK;
        return pat_k_unary_bwd(op, dtype, g0, dy, y, s0, n, alpha);
    case PAT_OP_WHERE:  /* the condition (source 0) has no gradient */
        return pat_k_where_bwd(dtype, g1, g2, dy, s0, it);
    case PAT_OP_SUM:
    case PAT_OP_MEAN:
        if (!g0) return PAT_OK;
        return pat_k_sum_bwd(dtype, g0, dy, it, alpha);
    case PAT_OP_MAX:
        if (!g0) return PAT_OK;
        return pat_k_max_route(dtype, g0, dy, y, aux, s0, it, 0);
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
    case PAT_OP_STACKED_LINEAR:
        return pat_k_stacked_linear_bwd(dtype, g0, g1, g2, dy, s0, s1, it, m, k, n, stats);
    case PAT_OP_DROPOUT:  /* the generator state (source 1) has no gradient */
        return pat_k_dropout_acc(dtype, g0, dy, aux, n);
    case PAT_OP_PICK:  /* labels (source 1) have no gradient */
        return pat_k_pick_route(dtype, g0, dy, s1, m, k, n, 0);
    case PAT_OP_CAST:  /* the gradient cast back to the source's dtype m */
        if (!g0) return PAT_OK;
        return pat_k_cast((int)m, g0, dtype, dy, n, 1);
    case PAT_OP_EMBEDDING:  /* indices (source 1) have no gradient */
        return pat_k_rows_route(dtype, g0, dy, s1, m, k, n, (int64_t)alpha, 0);
    case PAT_OP_GATHER:  /* offsets (source 1) have no gradient: dx[off[i]] += dy[i] */
        return pat_k_take_route(dtype, g0, dy, s1, n, k, 0);
    case PAT_OP_SCATTER_ADD:  /* dx[i] += dy[off[i]] */
        return pat_k_take_route(dtype, g0, dy, s1, n, k, 1);
    case PAT_OP_COUNT:
        return PAT_EBADOP;
    }
    return PAT_EBADOP;
}
