/* optim.c: the optimizer steps, one C call per step for all parameters of a group.

   Contract: the caller (pyautotape/optim.py) owns every buffer: parameters, gradients,
   state buffers and the per-parameter counters, all C-contiguous arrays of one dtype,
   passed as tables of pointers. A parameter whose gradient pointer is NULL is skipped
   (PyTorch skips parameters whose .grad is None), counters included. The functions keep
   no state between calls, so a recorded training step can replay them as they are.
   Every table entry is checked before any parameter is written: an error leaves all
   buffers untouched. No allocation, no printing. See optim_t.h for the arithmetic. */
#include <math.h>

#include "pat.h"

#define PAT_TYPED "optim_t.h"
#include "typed.h"

/* The checks shared by both steps: sizes, counters, and the buffers each updated
   parameter needs (nbufs tables, each entry required when its table is given). */
static int check_tables(int dtype, int64_t nparams, void *const *params,
                        const void *const *grads, const int64_t *sizes, const int64_t *counts,
                        void *const *bufs_a, void *const *bufs_b, int need_bufs) {
    if (dtype != PAT_F32 && dtype != PAT_F64) return PAT_EBADDTYPE;
    if (nparams < 0) return PAT_EBADARG;
    if (nparams == 0) return PAT_OK;
    if (!params || !grads || !sizes || !counts) return PAT_ENULL;
    if (need_bufs && (!bufs_a || (need_bufs > 1 && !bufs_b))) return PAT_ENULL;
    for (int64_t i = 0; i < nparams; i++) {
        if (!grads[i]) continue;
        if (sizes[i] < 0 || counts[i] < 0) return PAT_EBADARG;
        if (sizes[i] == 0) continue;
        if (!params[i]) return PAT_ENULL;
        if (need_bufs && !bufs_a[i]) return PAT_ENULL;
        if (need_bufs > 1 && !bufs_b[i]) return PAT_ENULL;
    }
    return PAT_OK;
}

int pat_sgd_step(int dtype, int64_t nparams, void *const *params, const void *const *grads,
                 void *const *bufs, const int64_t *sizes, int64_t *counts, double lr,
                 double momentum, double dampening, double weight_decay, int nesterov) {
    int rc = check_tables(dtype, nparams, params, grads, sizes, counts, bufs, NULL,
                          momentum != 0 ? 1 : 0);
    if (rc != PAT_OK || nparams == 0) return rc;
    for (int64_t i = 0; i < nparams; i++) {
        if (!grads[i]) continue;
        if (sizes[i] > 0) {
            void *buf = momentum != 0 ? bufs[i] : NULL;
            const int init = counts[i] == 0;
            if (dtype == PAT_F32)
                sgd_one_f32(params[i], grads[i], buf, sizes[i], lr, momentum, dampening,
                            weight_decay, nesterov, init);
            else
                sgd_one_f64(params[i], grads[i], buf, sizes[i], lr, momentum, dampening,
                            weight_decay, nesterov, init);
        }
        if (momentum != 0) counts[i]++;
    }
    return PAT_OK;
}

int pat_adam_step(int dtype, int64_t nparams, void *const *params, const void *const *grads,
                  void *const *exp_avgs, void *const *exp_avg_sqs, const int64_t *sizes,
                  int64_t *steps, double lr, double beta1, double beta2, double eps,
                  double weight_decay, int decoupled) {
    int rc = check_tables(dtype, nparams, params, grads, sizes, steps, exp_avgs, exp_avg_sqs, 2);
    if (rc != PAT_OK || nparams == 0) return rc;
    for (int64_t i = 0; i < nparams; i++) {
        if (!grads[i]) continue;
        const int64_t step = ++steps[i];
        if (sizes[i] == 0) continue;
        if (dtype == PAT_F32)
            adam_one_f32(params[i], grads[i], exp_avgs[i], exp_avg_sqs[i], sizes[i], step, lr,
                         beta1, beta2, eps, weight_decay, decoupled);
        else
            adam_one_f64(params[i], grads[i], exp_avgs[i], exp_avg_sqs[i], sizes[i], step, lr,
                         beta1, beta2, eps, weight_decay, decoupled);
    }
    return PAT_OK;
}
