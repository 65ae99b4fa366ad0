/* replay.c: run a recorded training step again, in one call.

   Contract: the program (steps) and every table it indexes were built once by
   pyautotape/replay/plan.py from a recording of the step run eagerly. Buffers are owned by
   Python and fixed between calls; new inputs were copied into their buffers before the
   call. Each step reuses the eager code path (pat_exec_fwd, pat_tape_backward, the
   optimizer kernels), in the recorded order, so results are bitwise those of eager mode;
   the one exception is opt-in: a PAT_STEP_SGD_GEMM step (pat.compile(fuse_update=True))
   folds a plain SGD update into the weight-gradient GEMM (run_sgd_gemm). Two pairs of
   neighbouring steps run as one when the kernels find it exactly equivalent, with the
   same kernels and arithmetic, so the same bits: a linear / stacked_linear forward and
   the unary op that reads its output (run_fwd_pair), and the zero-fill of a unary op's
   input gradient with that op's backward step (run_zero_unary). Neither runs in the
   checked replay, which checks every step on its own.
   A failed guard stops the run with PAT_EGUARD before any later step; indices are checked
   against the table sizes, and nothing is allocated, printed or kept.

   pat_replay_checked (pat.detect_anomaly) runs the same program and checks every forward
   output (pat_check_fwd) and every backward step (pat_tape_backward_checked); the
   unchecked pat_replay pays one pointer test per step for it. */
#include <cblas.h>
#include <limits.h>

#include "pat.h"

#define PAT_TYPED "replay_t.h"
#include "typed.h"

static int in_range(int32_t i, int64_t n) { return i >= 0 && i < n; }
static void *buf(void *const *bufs, int32_t s) { return s >= 0 ? bufs[s] : NULL; }

static int run_fwd(const pat_instr *ins, const pat_iter *iters, int64_t niters,
                   void *const *bufs, int64_t nbufs, pat_stats *stats) {
    if (!in_range(ins->dst, nbufs) || ins->aux < -1 || ins->aux >= nbufs ||
        ins->iter < -1 || ins->iter >= niters)
        return PAT_EBADARG;
    for (int i = 0; i < 3; i++)
        if (ins->src[i] < -1 || ins->src[i] >= nbufs) return PAT_EBADARG;
    return pat_exec_fwd(ins->op, ins->dtype, bufs[ins->dst], buf(bufs, ins->aux),
                        buf(bufs, ins->src[0]), buf(bufs, ins->src[1]), buf(bufs, ins->src[2]),
                        ins->iter >= 0 ? &iters[ins->iter] : NULL, ins->m, ins->k, ins->n,
                        ins->alpha, stats);
}

/* A unary op of ops.def (y = f(x), elementwise) */
static int is_unary(int op) {
    switch ((pat_op)op) {
#define PAT_OP(NAME, name, READS)
#define PAT_UNARY(NAME, name, READS, ORDER) case PAT_OP_##NAME:
#include "ops.def"
        return 1;
    default:
        return 0;
    }
}

/* The forward step pair (a, u): a linear or stacked_linear whose output the next step, a
   unary op of the same dtype, reads. Fused (dense.c: pat_k_linear_unary_fwd) when the
   kernel finds that it applies, which gives the two steps' bits; *fused = 0 otherwise,
   with nothing done, and the steps run one at a time. *part: the step that failed (0 a,
   1 u). The checks are run_fwd's for both instructions. */
static int run_fwd_pair(const pat_instr *a, const pat_instr *u, const pat_iter *iters,
                        int64_t niters, void *const *bufs, int64_t nbufs, pat_stats *stats,
                        int *fused, int *part) {
    *fused = 0;
    *part = 0;
    if ((a->op != PAT_OP_LINEAR && a->op != PAT_OP_STACKED_LINEAR) || !is_unary(u->op) ||
        u->dtype != a->dtype || u->src[0] != a->dst || u->src[1] != -1 || u->src[2] != -1 ||
        u->aux != -1 || !in_range(a->dst, nbufs) || !in_range(u->dst, nbufs) ||
        a->aux != -1 || (a->op == PAT_OP_LINEAR) != (a->iter == -1) ||
        a->iter < -1 || a->iter >= niters)
        return PAT_OK;
    for (int i = 0; i < 3; i++)
        if (a->src[i] < -1 || a->src[i] >= nbufs) return PAT_OK;
    const int rc = pat_k_linear_unary_fwd(a->dtype, bufs[a->dst], buf(bufs, a->src[0]),
                                          buf(bufs, a->src[1]), buf(bufs, a->src[2]),
                                          a->iter >= 0 ? &iters[a->iter] : NULL, a->m, a->k,
                                          a->n, u->op, bufs[u->dst], u->n, u->alpha, stats,
                                          fused, part);
    if (*fused && stats) stats->instrs += 2;
    return rc;
}

/* A ZERO step of bufs[a] (n elements) followed by the BWD step of a unary record whose
   input gradient is that buffer: the record's rule writes the gradient (0 + rule, the
   bits of zeroing then accumulating) in one pass instead of a fill and an accumulation.
   Applies only when the record is a one-seed unary of the same dtype and size, its output
   gradient exists and none of its operands is the zeroed buffer; *fused = 0 otherwise,
   with nothing done. On a failure of the rule the buffer is zeroed anyway, as the steps
   one at a time would have left it. */
static int run_zero_unary(const pat_step *z, const pat_step *b, void *const *bufs,
                          const pat_sweep *sweeps, int64_t nsweeps, pat_stats *stats,
                          int *fused) {
    *fused = 0;
    if (!in_range(b->a, nsweeps)) return PAT_OK;
    const pat_sweep *w = &sweeps[b->a];
    if (!in_range(b->b, w->ntape)) return PAT_OK;
    const pat_instr *ins = &w->tape[b->b];
    if (!is_unary(ins->op) || ins->dtype != z->dtype || ins->n != z->n || z->n < 1 ||
        !in_range(ins->dst, w->nslots) || !in_range(ins->src[0], w->nslots))
        return PAT_OK;
    void *g0 = w->grads[ins->src[0]];
    const void *dy = w->grads[ins->dst], *y = w->vals[ins->dst], *x = w->vals[ins->src[0]];
    if (g0 != bufs[z->a] || !dy || dy == g0 || y == g0 || x == g0) return PAT_OK;
    *fused = 1;
    if (stats) stats->instrs += 1;
    const int rc = pat_k_unary_bwd_set(ins->op, ins->dtype, g0, dy, y, x, ins->n, ins->alpha);
    if (rc != PAT_OK) {
        if (z->dtype == PAT_F32) zero_f32(g0, z->n);
        else zero_f64(g0, z->n);
    }
    return rc;
}

/* One optimizer call: the kernel named by o->kind with the recorded tables; hyper[] holds
   its double arguments in order. */
static int run_optim(const pat_optcall *o) {
    const double *h = o->hyper;
    void *const *const *b = o->bufs;
    switch ((pat_optim_kind)o->kind) {
        case PAT_OPTIM_SGD:
            return pat_sgd_step(o->dtype, o->nparams, o->params, o->grads, b[0], o->sizes,
                                o->counts, h[0], h[1], h[2], h[3], o->flag);
        case PAT_OPTIM_ADAM:
            return pat_adam_step(o->dtype, o->nparams, o->params, o->grads, b[0], b[1], b[2],
                                 o->sizes, o->counts, h[0], h[1], h[2], h[3], h[4], o->flag);
        case PAT_OPTIM_RMSPROP:
            return pat_rmsprop_step(o->dtype, o->nparams, o->params, o->grads, b[0], b[1],
                                    b[2], o->sizes, o->counts, h[0], h[1], h[2], h[3], h[4],
                                    o->flag);
        case PAT_OPTIM_ADAGRAD:
            return pat_adagrad_step(o->dtype, o->nparams, o->params, o->grads, b[0], o->sizes,
                                    o->counts, h[0], h[1], h[2], h[3], o->flag);
        case PAT_OPTIM_ADADELTA:
            return pat_adadelta_step(o->dtype, o->nparams, o->params, o->grads, b[0], b[1],
                                     o->sizes, o->counts, h[0], h[1], h[2], h[3], o->flag);
        case PAT_OPTIM_ADAMAX:
            return pat_adamax_step(o->dtype, o->nparams, o->params, o->grads, b[0], b[1],
                                   o->sizes, o->counts, h[0], h[1], h[2], h[3], h[4], o->flag);
        case PAT_OPTIM_NADAM:
            return pat_nadam_step(o->dtype, o->nparams, o->params, o->grads, b[0], b[1],
                                  b[2], o->sizes, o->counts, h[0], h[1], h[2],
                                  h[3], h[4], h[5], o->flag);
        case PAT_OPTIM_RADAM:
            return pat_radam_step(o->dtype, o->nparams, o->params, o->grads, b[0], b[1],
                                  o->sizes, o->counts, h[0], h[1], h[2], h[3], h[4], o->flag);
        case PAT_OPTIM_COUNT:
            break;
    }
    return PAT_EBADARG;
}

/* Record `first` of a recorded reverse sweep, checked when an != NULL (its record then
   counts in the sweep's tape). */
static int run_sweep(const pat_sweep *w, int64_t first, int32_t index,
                     const int64_t *const *sweep_sizes, pat_stats *stats, pat_anomaly *an) {
    if (!an)
        return pat_tape_backward(&w->tape[first], 1, w->iters, w->niters, w->vals, w->grads,
                                 w->nslots, stats, NULL);
    if (!sweep_sizes[index]) return PAT_ENULL;
    const int rc = pat_tape_backward_checked(&w->tape[first], 1, w->iters, w->niters,
                                             w->vals, w->grads, sweep_sizes[index], w->nslots,
                                             stats, NULL, an);
    if (rc == PAT_EANOMALY) {
        an->record += first;
        an->sweep = index;
    }
    return rc;
}

/* fuse_update (opt-in, not bitwise eager's: the GEMM rounds -lr * (dy^T x) + W its own way):
   W(n,k) += -lr dy(m,n)^T x(m,k), the update of plain SGD folded into the weight-gradient
   GEMM of linear record b of sweep a, W parameter d of optimizer call c (which skips it). */
static int run_sgd_gemm(const pat_step *s, const pat_sweep *sweeps, int64_t nsweeps,
                        const pat_optcall *opts, int64_t nopts, pat_stats *stats) {
    if (!in_range(s->a, nsweeps) || !in_range(s->c, nopts)) return PAT_EBADARG;
    const pat_sweep *w = &sweeps[s->a];
    const pat_optcall *o = &opts[s->c];
    if (!in_range(s->b, w->ntape) || !in_range(s->d, o->nparams)) return PAT_EBADARG;
    const pat_instr *ins = &w->tape[s->b];
    if (ins->op != PAT_OP_LINEAR || o->kind != PAT_OPTIM_SGD || o->dtype != s->dtype ||
        ins->dtype != s->dtype || !in_range(ins->dst, w->nslots) ||
        !in_range(ins->src[0], w->nslots))
        return PAT_EBADARG;
    const int64_t m = ins->m, k = ins->k, n = ins->n;
    if (m < 0 || k < 0 || n < 0 || !o->sizes || o->sizes[s->d] != n * k) return PAT_EBADARG;
    if (m > INT_MAX || n > INT_MAX || k > INT_MAX) return PAT_ETOOBIG;
    if (n * k == 0 || m == 0) return PAT_OK;
    const void *dy = w->grads[ins->dst], *x = w->vals[ins->src[0]];
    void *W = o->params[s->d];
    if (!dy || !x || !W) return PAT_ENULL;
    const double lr = o->hyper[0];
    if (s->dtype == PAT_F32)
        scipy_cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)n, (int)k, (int)m,
                          (float)-lr, dy, (int)n, x, (int)k, 1.0f, W, (int)k);
    else
        scipy_cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)n, (int)k, (int)m,
                          -lr, dy, (int)n, x, (int)k, 1.0, W, (int)k);
    if (stats) {
        stats->gemm_calls += 1;
        stats->gemm_flops += 2 * m * n * k;
    }
    return PAT_OK;
}

static int replay_run(const pat_step *steps, int64_t nsteps, const pat_instr *instrs,
                      int64_t ninstrs, const pat_iter *iters, int64_t niters,
                      void *const *bufs, int64_t nbufs, const pat_sweep *sweeps,
                      int64_t nsweeps, const pat_optcall *opts, int64_t nopts,
                      const int64_t *buf_sizes, const int64_t *const *sweep_sizes,
                      pat_stats *stats, int64_t *failed, pat_anomaly *an) {
    for (int64_t t = 0; t < nsteps; t++) {
        const pat_step *s = &steps[t];
        int rc = PAT_OK;
        if (s->dtype != PAT_F32 && s->dtype != PAT_F64) {
            rc = PAT_EBADDTYPE;
        } else switch ((pat_step_kind)s->kind) {
        case PAT_STEP_FWD:
            if (!an && t + 1 < nsteps && steps[t + 1].kind == PAT_STEP_FWD &&
                steps[t + 1].dtype == s->dtype && in_range(s->a, ninstrs) &&
                in_range(steps[t + 1].a, ninstrs)) {
                int fused, part;
                rc = run_fwd_pair(&instrs[s->a], &instrs[steps[t + 1].a], iters, niters, bufs,
                                  nbufs, stats, &fused, &part);
                if (fused) {
                    t += part || rc == PAT_OK; /* the unary's step is done (or failed) */
                    break;
                }
            }
            rc = in_range(s->a, ninstrs) ? run_fwd(&instrs[s->a], iters, niters, bufs, nbufs, stats)
                                         : PAT_EBADARG;
            if (rc == PAT_OK && an)
                rc = pat_check_fwd(&instrs[s->a], s->a, bufs, buf_sizes, nbufs, an);
            break;
        case PAT_STEP_ZERO:
            if (!in_range(s->a, nbufs) || s->n < 0) { rc = PAT_EBADARG; break; }
            if (s->n > 0 && !bufs[s->a]) { rc = PAT_ENULL; break; }
            if (!an && t + 1 < nsteps && steps[t + 1].kind == PAT_STEP_BWD) {
                int fused;
                rc = run_zero_unary(s, &steps[t + 1], bufs, sweeps, nsweeps, stats, &fused);
                if (fused) {
                    t++; /* the BWD step is done (or failed: reported as its own) */
                    break;
                }
            }
            if (s->dtype == PAT_F32) zero_f32(bufs[s->a], s->n);
            else zero_f64(bufs[s->a], s->n);
            break;
        case PAT_STEP_ACC:
            if (!in_range(s->a, nbufs) || !in_range(s->b, nbufs) || s->n < 0) { rc = PAT_EBADARG; break; }
            if (s->n > 0 && (!bufs[s->a] || !bufs[s->b])) { rc = PAT_ENULL; break; }
            if (s->dtype == PAT_F32) acc_f32(bufs[s->a], bufs[s->b], s->n);
            else acc_f64(bufs[s->a], bufs[s->b], s->n);
            break;
        case PAT_STEP_GUARD: {
            if (!in_range(s->a, nbufs) || !in_range(s->b, nbufs) || !in_range(s->c, nbufs) ||
                !in_range(s->d, niters) || !valid_iter(&iters[s->d])) { rc = PAT_EBADARG; break; }
            if (!bufs[s->a] || !bufs[s->b] || !bufs[s->c]) { rc = PAT_ENULL; break; }
            const int ok = s->dtype == PAT_F32
                ? guard_f32(bufs[s->c], bufs[s->a], bufs[s->b], &iters[s->d], s->n)
                : guard_f64(bufs[s->c], bufs[s->a], bufs[s->b], &iters[s->d], s->n);
            if (!ok) rc = PAT_EGUARD;
            break;
        }
        case PAT_STEP_BWD: {
            if (!in_range(s->a, nsweeps)) { rc = PAT_EBADARG; break; }
            const pat_sweep *w = &sweeps[s->a];
            if (!in_range(s->b, w->ntape)) { rc = PAT_EBADARG; break; }
            /* a one-record sweep: the same bounds checks and kernel call as eager backward */
            rc = run_sweep(w, s->b, s->a, sweep_sizes, stats, an);
            break;
        }
        case PAT_STEP_OPTIM:
            rc = in_range(s->a, nopts) ? run_optim(&opts[s->a]) : PAT_EBADARG;
            break;
        case PAT_STEP_SGD_GEMM:
            rc = run_sgd_gemm(s, sweeps, nsweeps, opts, nopts, stats);
            break;
        case PAT_STEP_COUNT:
            rc = PAT_EBADOP;
            break;
        }
        if (rc != PAT_OK) {
            if (failed) *failed = t;
            return rc;
        }
    }
    return PAT_OK;
}

int pat_replay(const pat_step *steps, int64_t nsteps, const pat_instr *instrs,
               int64_t ninstrs, const pat_iter *iters, int64_t niters, void *const *bufs,
               int64_t nbufs, const pat_sweep *sweeps, int64_t nsweeps,
               const pat_optcall *opts, int64_t nopts, pat_stats *stats, int64_t *failed) {
    return replay_run(steps, nsteps, instrs, ninstrs, iters, niters, bufs, nbufs, sweeps,
                      nsweeps, opts, nopts, NULL, NULL, stats, failed, NULL);
}

int pat_replay_checked(const pat_step *steps, int64_t nsteps, const pat_instr *instrs,
                       int64_t ninstrs, const pat_iter *iters, int64_t niters,
                       void *const *bufs, int64_t nbufs, const pat_sweep *sweeps,
                       int64_t nsweeps, const pat_optcall *opts, int64_t nopts,
                       const int64_t *buf_sizes, const int64_t *const *sweep_sizes,
                       pat_stats *stats, int64_t *failed, pat_anomaly *anomaly) {
    if (!anomaly || (!buf_sizes && nbufs > 0) || (!sweep_sizes && nsweeps > 0))
        return PAT_ENULL;
    return replay_run(steps, nsteps, instrs, ninstrs, iters, niters, bufs, nbufs, sweeps,
                      nsweeps, opts, nopts, buf_sizes, sweep_sizes, stats, failed, anomaly);
}
