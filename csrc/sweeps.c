/* sweeps.c: the sweeps over a packed tape.

   Contract: the tape is the order. The reverse sweep is a loop from the last record to
   the first, the tangent sweep one from the first to the last: no graph search, no
   recursion. Sweeps: pat_tape_backward (reverse, one cotangent, through exec.c's
   pat_exec_bwd); pat_tape_tangent (forward mode), pat_tape_backward_batch (reverse, K
   cotangents) and pat_tape_hvp (second-order adjoints, forward-over-reverse), each
   pushing K seeds in one call. The tangent and second-order rules read only the values
   the backward rules read, so one recorded tape serves every sweep. Each per-record rule
   is a `switch` on the opcode with no `default:`, built with -Werror=switch: the unary
   and binary case labels come from ops.def, every other op needs its case here. A custom
   op (PAT_OP_CUSTOM) calls back into Python through pat_custom_callback; a nonzero status
   from it stops the sweep like any error.

   NaN/Inf detection (pat.detect_anomaly): each sweep is one static function taking a
   pat_anomaly pointer; the public unchecked sweeps pass NULL, so the only cost they pay is
   one pointer test per record. The *_checked entry points pass it, and after each record
   run check.c's pat_chk_* on what its rule wrote. Nothing here allocates, prints, aborts
   or keeps state between calls. */
#include "pat.h"

/* The reverse sweep; an != NULL: checked (sizes given). */
static int backward_sweep(const pat_instr *tape, int64_t ntape, const pat_iter *iters,
                          int64_t niters, void *const *vals, void *const *grads,
                          const int64_t *sizes, int64_t nslots, pat_stats *stats,
                          int64_t *failed, pat_anomaly *an) {
    for (int64_t t = ntape - 1; t >= 0; t--) {
        const pat_instr *ins = &tape[t];
        int rc = PAT_OK;
        if (pat_bad_slot(ins->dst, nslots) || pat_bad_slot(ins->aux, nslots) ||
            pat_bad_slot(ins->src[0], nslots) || pat_bad_slot(ins->src[1], nslots) ||
            pat_bad_slot(ins->src[2], nslots) || ins->iter < -1 || ins->iter >= niters)
            rc = PAT_EBADARG;
        void *dy = rc == PAT_OK ? pat_slot(grads, ins->dst) : NULL;
        if (rc == PAT_OK && dy != NULL) {
            const pat_iter *it = ins->iter >= 0 ? &iters[ins->iter] : NULL;
            rc = pat_exec_bwd(ins->op, ins->dtype, dy, pat_slot(vals, ins->dst),
                              pat_slot(vals, ins->aux), pat_slot(vals, ins->src[0]),
                              pat_slot(vals, ins->src[1]), pat_slot(vals, ins->src[2]),
                              pat_slot(grads, ins->src[0]), pat_slot(grads, ins->src[1]),
                              pat_slot(grads, ins->src[2]), it, ins->m, ins->k, ins->n,
                              ins->alpha, stats);
            if (rc == PAT_OK && an) rc = pat_chk_bwd(ins, t, vals, grads, sizes, 1, an);
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
    pat_chk_reset(anomaly);
    return backward_sweep(tape, ntape, iters, niters, vals, grads, sizes, nslots, stats, failed,
                          anomaly);
}

/* ---- batched sweeps: forward mode, reverse mode for K seeds, second-order adjoints ----

   The buffer of slot s in tans, grads and atans holds K seeds, sizes[s] elements each;
   values (vals) and first-order adjoints of the second-order sweep (adjs) hold one.
   Elementwise, reduction and loss rules run once per seed (a loop inside this call);
   dense rules push every seed through one GEMM (dense.c). */

static int64_t esz(int dt) { return dt == PAT_F64 ? 8 : 4; }

/* seed j of a batched buffer whose seeds are n elements long; NULL stays NULL */
static void *at(void *p, int64_t j, int64_t n, int dt) {
    return p ? (char *)p + j * n * esz(dt) : NULL;
}

static int is_dense(int op) {
    return op == PAT_OP_LINEAR || op == PAT_OP_MATMUL || op == PAT_OP_STACKED_LINEAR;
}

/* The checks every batched sweep makes on an instruction before running it. */
static int check_instr(const pat_instr *ins, int64_t nslots, int64_t niters) {
    if (pat_bad_slot(ins->dst, nslots) || ins->dst < 0 || pat_bad_slot(ins->aux, nslots) ||
        pat_bad_slot(ins->src[0], nslots) || pat_bad_slot(ins->src[1], nslots) ||
        pat_bad_slot(ins->src[2], nslots) || ins->iter < -1 || ins->iter >= niters)
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
    void *t0 = pat_slot(tans, s[0]), *t1 = pat_slot(tans, s[1]), *t2 = pat_slot(tans, s[2]);
    const void *y = pat_slot(vals, ins->dst), *aux = pat_slot(vals, ins->aux);
    const void *v0 = pat_slot(vals, s[0]), *v1 = pat_slot(vals, s[1]);
    const int64_t ny = sizes[ins->dst], n0 = pat_size(sizes, s[0]), n1 = pat_size(sizes, s[1]),
                  n2 = pat_size(sizes, s[2]);
    int rc = PAT_OK;
    switch ((pat_op)op) {
#define PAT_OP(NAME, name, READS)
#define PAT_BINARY(NAME, name, READS, ORDER) case PAT_OP_##NAME:
#include "ops.def"
        for (int64_t j = 0; j < K && rc == PAT_OK; j++)
            rc = pat_k_binary_tan(op, dt, at(ty, j, ny, dt), at(t0, j, n0, dt),
                                  at(t1, j, n1, dt), v0, v1, it, ins->alpha);
        return rc;
#define PAT_OP(NAME, name, READS)
#define PAT_UNARY(NAME, name, READS, ORDER) case PAT_OP_##NAME:
#include "ops.def"
        /* J is diagonal, so J t is the reverse rule applied to t */
        for (int64_t j = 0; t0 && j < K && rc == PAT_OK; j++)
            rc = pat_k_unary_bwd(op, dt, at(ty, j, ny, dt), at(t0, j, n0, dt), y, v0, ins->n,
                                 ins->alpha);
        return rc;
    case PAT_OP_WHERE:  /* source 0 is the condition, a constant */
        for (int64_t j = 0; j < K && rc == PAT_OK; j++)
            rc = pat_k_where_tan(dt, at(ty, j, ny, dt), v0, at(t1, j, n1, dt),
                                 at(t2, j, n2, dt), it);
        return rc;
    case PAT_OP_SUM:
    case PAT_OP_MEAN:
        for (int64_t j = 0; t0 && j < K && rc == PAT_OK; j++)
            rc = pat_k_sum_acc(dt, at(ty, j, ny, dt), at(t0, j, n0, dt), it, ny, ins->alpha);
        return rc;
    case PAT_OP_MAX:
        for (int64_t j = 0; t0 && j < K && rc == PAT_OK; j++)
            rc = pat_k_max_route(dt, at(ty, j, ny, dt), at(t0, j, n0, dt), y, aux, v0, it, 1);
        return rc;
    case PAT_OP_RESHAPE:
        for (int64_t j = 0; t0 && j < K && rc == PAT_OK; j++)
            rc = pat_k_acc(dt, at(ty, j, ny, dt), at(t0, j, n0, dt), ins->n);
        return rc;
    case PAT_OP_TRANSPOSE:
    case PAT_OP_INDEX:
        for (int64_t j = 0; t0 && j < K && rc == PAT_OK; j++)
            rc = pat_k_gather(dt, at(ty, j, ny, dt), at(t0, j, n0, dt), it, ins->m, 1);
        return rc;
    case PAT_OP_CONCAT:
        for (int64_t j = 0; j < K && rc == PAT_OK; j++)
            rc = pat_k_concat(dt, at(ty, j, ny, dt), at(t0, j, n0, dt), at(t1, j, n1, dt),
                              ins->m, ins->k, ins->n, 1);
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
    case PAT_OP_SOFTMAX:  /* J = diag(y) - y y^T is symmetric: the reverse kernel */
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
    case PAT_OP_STACKED_LINEAR:  /* per member: ty = tx w^T + x tw^T + tb */
        return pat_k_stacked_linear_tan_k(dt, K, ty, ny, t0, n0, t1, n1, t2, n2, v0, v1, it,
                                          ins->m, ins->k, ins->n, sc, st);
    case PAT_OP_DROPOUT:  /* ty = mask * tx */
        for (int64_t j = 0; t0 && j < K && rc == PAT_OK; j++)
            rc = pat_k_dropout_acc(dt, at(ty, j, ny, dt), at(t0, j, n0, dt), aux, ins->n);
        return rc;
    case PAT_OP_PICK:  /* labels (source 1) carry no tangent */
        for (int64_t j = 0; t0 && j < K && rc == PAT_OK; j++)
            rc = pat_k_pick_route(dt, at(ty, j, ny, dt), at(t0, j, n0, dt), v1, ins->m, ins->k,
                                  ins->n, 1);
        return rc;
    case PAT_OP_CAST:  /* ty += cast(t0); t0 is of the source's dtype m */
        if (ins->m != PAT_F32 && ins->m != PAT_F64) return PAT_EBADDTYPE;
        for (int64_t j = 0; t0 && j < K && rc == PAT_OK; j++)
            rc = pat_k_cast(dt, at(ty, j, ny, dt), (int)ins->m, at(t0, j, n0, (int)ins->m),
                            ins->n, 1);
        return rc;
    case PAT_OP_EMBEDDING:  /* indices (source 1) carry no tangent */
        for (int64_t j = 0; t0 && j < K && rc == PAT_OK; j++)
            rc = pat_k_rows_route(dt, at(ty, j, ny, dt), at(t0, j, n0, dt), v1, ins->m, ins->k,
                                  ins->n, -1, 1);
        return rc;
    case PAT_OP_GATHER:  /* ty[i] += tx[off[i]]; offsets (source 1) carry no tangent */
        for (int64_t j = 0; t0 && j < K && rc == PAT_OK; j++)
            rc = pat_k_take_route(dt, at(ty, j, ny, dt), at(t0, j, n0, dt), v1, ins->n, ins->k,
                                  1);
        return rc;
    case PAT_OP_SCATTER_ADD:  /* ty[off[i]] += tx[i] */
        for (int64_t j = 0; t0 && j < K && rc == PAT_OK; j++)
            rc = pat_k_take_route(dt, at(ty, j, ny, dt), at(t0, j, n0, dt), v1, ins->n, ins->k,
                                  0);
        return rc;
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
    const void *y = pat_slot(vals, ins->dst), *aux = pat_slot(vals, ins->aux);
    const void *v0 = pat_slot(vals, s[0]), *v1 = pat_slot(vals, s[1]), *v2 = pat_slot(vals, s[2]);
    const int64_t ny = sizes[ins->dst], n0 = pat_size(sizes, s[0]), n1 = pat_size(sizes, s[1]),
                  n2 = pat_size(sizes, s[2]);
    int rc = PAT_OK;
    switch ((pat_op)op) {
#define PAT_OP(NAME, name, READS)
#define PAT_UNARY(NAME, name, READS, ORDER) case PAT_OP_##NAME:
#define PAT_BINARY(NAME, name, READS, ORDER) case PAT_OP_##NAME:
#include "ops.def"
    case PAT_OP_WHERE:
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
    case PAT_OP_DROPOUT:
    case PAT_OP_PICK:
    case PAT_OP_EMBEDDING:
    case PAT_OP_GATHER:
    case PAT_OP_SCATTER_ADD:
        /* the one-seed backward rule, once per seed */
        for (int64_t j = 0; j < K && rc == PAT_OK; j++)
            rc = pat_exec_bwd(op, dt, at(dy, j, ny, dt), y, aux, v0, v1, v2, at(g0, j, n0, dt),
                              at(g1, j, n1, dt), at(g2, j, n2, dt), it, ins->m, ins->k, ins->n,
                              ins->alpha, NULL);
        return rc;
    case PAT_OP_CAST:  /* the source's adjoint g0 is of the source's dtype m */
        if (ins->m != PAT_F32 && ins->m != PAT_F64) return PAT_EBADDTYPE;
        for (int64_t j = 0; j < K && rc == PAT_OK; j++)
            rc = pat_exec_bwd(op, dt, at(dy, j, ny, dt), y, aux, v0, v1, v2,
                              at(g0, j, n0, (int)ins->m), NULL, NULL, it, ins->m, ins->k, ins->n,
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
    case PAT_OP_STACKED_LINEAR:
        return pat_k_stacked_linear_bwd_k(dt, K, g0, n0, g1, n1, g2, n2, dy, ny, v0, 0, v1, 0,
                                          it, ins->m, ins->k, ins->n, sc, st);
    case PAT_OP_COUNT:
        return PAT_EBADOP;
    }
    return PAT_EBADOP;
}

/* Second-order term of one instruction for K directions: g_i += (dJ_i[tans])^T ybar; the
   elementwise kernels add nothing for a LINEAR op. */
static int exec_soa(const pat_instr *ins, const pat_iter *it, void *const *vals,
                    void *const *tans, const void *ybar, void *g0, void *g1, void *g2,
                    const int64_t *sizes, int64_t K, pat_scratch *sc, pat_stats *st) {
    const int dt = ins->dtype, op = ins->op;
    const int32_t *s = ins->src;
    void *ty = tans[ins->dst];
    void *t0 = pat_slot(tans, s[0]), *t1 = pat_slot(tans, s[1]);
    const void *y = pat_slot(vals, ins->dst), *aux = pat_slot(vals, ins->aux);
    const void *v0 = pat_slot(vals, s[0]), *v1 = pat_slot(vals, s[1]);
    const int64_t ny = sizes[ins->dst], n0 = pat_size(sizes, s[0]), n1 = pat_size(sizes, s[1]);
    int rc = PAT_OK;
    switch ((pat_op)op) {
    case PAT_OP_WHERE:        /* linear or piecewise linear: no second-order term */
    case PAT_OP_SUM:
    case PAT_OP_MEAN:
    case PAT_OP_MAX:
    case PAT_OP_RESHAPE:
    case PAT_OP_TRANSPOSE:
    case PAT_OP_INDEX:
    case PAT_OP_CONCAT:
    case PAT_OP_DROPOUT:
    case PAT_OP_PICK:
    case PAT_OP_EMBEDDING:
    case PAT_OP_GATHER:
    case PAT_OP_SCATTER_ADD:
    case PAT_OP_CAST:
        return PAT_OK;
#define PAT_OP(NAME, name, READS)
#define PAT_BINARY(NAME, name, READS, ORDER) case PAT_OP_##NAME:
#include "ops.def"
        for (int64_t j = 0; j < K && rc == PAT_OK; j++)
            rc = pat_k_binary_soa(op, dt, at(g0, j, n0, dt), at(g1, j, n1, dt), ybar, v0, v1,
                                  at(t0, j, n0, dt), at(t1, j, n1, dt), it);
        return rc;
#define PAT_OP(NAME, name, READS)
#define PAT_UNARY(NAME, name, READS, ORDER) case PAT_OP_##NAME:
#include "ops.def"
        for (int64_t j = 0; g0 && t0 && j < K && rc == PAT_OK; j++)
            rc = pat_k_unary_soa(op, dt, at(g0, j, n0, dt), ybar, y, v0, at(t0, j, n0, dt),
                                 ins->n, ins->alpha);
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
    case PAT_OP_STACKED_LINEAR:  /* per member: gx += ybar tw, gw += ybar^T tx */
        return pat_k_stacked_linear_bwd_k(dt, K, t1 ? g0 : NULL, n0, t0 ? g1 : NULL, n1, NULL, 0,
                                          ybar, 0, t0, n0, t1, n1, it, ins->m, ins->k, ins->n,
                                          sc, st);
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

enum { SWEEP_TAN, SWEEP_BWD, SWEEP_HVP };

/* One record's rules in a batched sweep of `kind`, writing into the table `out` (tans,
   grads or atans); checked afterwards when an != NULL. */
static int batched_rule(int kind, const pat_instr *ins, int64_t t, const pat_iter *it,
                        void *const *vals, void *const *tans, void *const *adjs,
                        void *const *out, const int64_t *sizes, int64_t K, pat_scratch *sc,
                        pat_stats *st, pat_anomaly *an) {
    int rc;
    if (kind == SWEEP_TAN) {
        rc = exec_tan(ins, it, vals, out, sizes, K, sc, st);
        if (rc == PAT_OK && an && !sc->dry) rc = pat_chk_tan(ins, t, vals, out, sizes, K, an);
        return rc;
    }
    void *g0 = pat_slot(out, ins->src[0]), *g1 = pat_slot(out, ins->src[1]),
         *g2 = pat_slot(out, ins->src[2]);
    /* first order: the backward rule for every seed (hvp: of the adjoint's tangent) */
    rc = exec_bwd_k(ins, it, vals, out[ins->dst], g0, g1, g2, sizes, K, sc, st);
    /* second order: the tangent of the backward rule, at the value's adjoint */
    if (rc == PAT_OK && kind == SWEEP_HVP && adjs[ins->dst] != NULL)
        rc = exec_soa(ins, it, vals, tans, adjs[ins->dst], g0, g1, g2, sizes, K, sc, st);
    if (rc == PAT_OK && an && !sc->dry)
        rc = kind == SWEEP_BWD ? pat_chk_bwd(ins, t, vals, out, sizes, K, an)
                               : pat_chk_hvp(ins, t, vals, tans, adjs, out, sizes, K, an);
    return rc;
}

/* The three batched sweeps: tangents from the first record to the last, reverse and
   second-order adjoints from the last to the first. A record whose out[dst] is NULL has
   nothing to push and is skipped. A dry run (need != NULL) visits only the dense ops,
   which are the ones that claim scratch. */
static int batched_sweep(int kind, const pat_instr *tape, int64_t ntape,
                         const pat_iter *iters, int64_t niters, void *const *vals,
                         void *const *tans, void *const *adjs, void *const *out,
                         const int64_t *sizes, int64_t nslots, int64_t nseeds, void *scratch,
                         int64_t nscratch, int64_t *need, pat_stats *stats, int64_t *failed,
                         pat_anomaly *an) {
    if (!batch_args_ok(ntape, nslots, sizes, nseeds, nscratch)) return PAT_EBADARG;
    if (an) pat_chk_reset(an);
    pat_scratch sc = {scratch, scratch ? nscratch : 0, 0, need != NULL};
    for (int64_t i = 0; i < ntape; i++) {
        const int64_t t = kind == SWEEP_TAN ? i : ntape - 1 - i;
        const pat_instr *ins = &tape[t];
        int rc = check_instr(ins, nslots, niters);
        if (rc == PAT_OK && out[ins->dst] != NULL && !(sc.dry && !is_dense(ins->op))) {
            pat_stats *st = sc.dry ? NULL : stats;
            if (st) st->instrs += 1;
            rc = batched_rule(kind, ins, t, ins->iter >= 0 ? &iters[ins->iter] : NULL, vals,
                              tans, adjs, out, sizes, nseeds, &sc, st, an);
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
    return batched_sweep(SWEEP_TAN, tape, ntape, iters, niters, vals, tans, NULL, tans, sizes,
                         nslots, nseeds, scratch, nscratch, need, stats, failed, NULL);
}

int pat_tape_tangent_checked(const pat_instr *tape, int64_t ntape, const pat_iter *iters,
                             int64_t niters, void *const *vals, void *const *tans,
                             const int64_t *sizes, int64_t nslots, int64_t nseeds,
                             void *scratch, int64_t nscratch, int64_t *need, pat_stats *stats,
                             int64_t *failed, pat_anomaly *anomaly) {
    if (!anomaly) return PAT_ENULL;
    return batched_sweep(SWEEP_TAN, tape, ntape, iters, niters, vals, tans, NULL, tans, sizes,
                         nslots, nseeds, scratch, nscratch, need, stats, failed, anomaly);
}

int pat_tape_backward_batch(const pat_instr *tape, int64_t ntape, const pat_iter *iters,
                            int64_t niters, void *const *vals, void *const *grads,
                            const int64_t *sizes, int64_t nslots, int64_t nseeds,
                            void *scratch, int64_t nscratch, int64_t *need, pat_stats *stats,
                            int64_t *failed) {
    return batched_sweep(SWEEP_BWD, tape, ntape, iters, niters, vals, NULL, NULL, grads, sizes,
                         nslots, nseeds, scratch, nscratch, need, stats, failed, NULL);
}

int pat_tape_backward_batch_checked(const pat_instr *tape, int64_t ntape,
                                    const pat_iter *iters, int64_t niters, void *const *vals,
                                    void *const *grads, const int64_t *sizes, int64_t nslots,
                                    int64_t nseeds, void *scratch, int64_t nscratch,
                                    int64_t *need, pat_stats *stats, int64_t *failed,
                                    pat_anomaly *anomaly) {
    if (!anomaly) return PAT_ENULL;
    return batched_sweep(SWEEP_BWD, tape, ntape, iters, niters, vals, NULL, NULL, grads, sizes,
                         nslots, nseeds, scratch, nscratch, need, stats, failed, anomaly);
}

int pat_tape_hvp(const pat_instr *tape, int64_t ntape, const pat_iter *iters, int64_t niters,
                 void *const *vals, void *const *tans, void *const *adjs, void *const *atans,
                 const int64_t *sizes, int64_t nslots, int64_t nseeds, void *scratch,
                 int64_t nscratch, int64_t *need, pat_stats *stats, int64_t *failed) {
    return batched_sweep(SWEEP_HVP, tape, ntape, iters, niters, vals, tans, adjs, atans, sizes,
                         nslots, nseeds, scratch, nscratch, need, stats, failed, NULL);
}

int pat_tape_hvp_checked(const pat_instr *tape, int64_t ntape, const pat_iter *iters,
                         int64_t niters, void *const *vals, void *const *tans,
                         void *const *adjs, void *const *atans, const int64_t *sizes,
                         int64_t nslots, int64_t nseeds, void *scratch, int64_t nscratch,
                         int64_t *need, pat_stats *stats, int64_t *failed,
                         pat_anomaly *anomaly) {
    if (!anomaly) return PAT_ENULL;
    return batched_sweep(SWEEP_HVP, tape, ntape, iters, niters, vals, tans, adjs, atans, sizes,
                         nslots, nseeds, scratch, nscratch, need, stats, failed, anomaly);
}
