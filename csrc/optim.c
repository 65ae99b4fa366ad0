/* optim.c: the optimizer steps, one C call per step for all parameters of a group.

   Contract: the caller (pyautotape/optim/) owns every buffer: parameters, gradients,
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

/* The checks shared by every step: sizes, counters, and the state tables each updated
   parameter needs (the ntabs tables in tabs[], all required). */
static int check_tables(int dtype, int64_t nparams, void *const *params,
                        const void *const *grads, const int64_t *sizes, const int64_t *counts,
                        void *const *const *tabs, int ntabs) {
    if (dtype != PAT_F32 && dtype != PAT_F64) return PAT_EBADDTYPE;
    if (nparams < 0) return PAT_EBADARG;
    if (nparams == 0) return PAT_OK;
    if (!params || !grads || !sizes || !counts) return PAT_ENULL;
    for (int k = 0; k < ntabs; k++)
        if (!tabs[k]) return PAT_ENULL;
    for (int64_t i = 0; i < nparams; i++) {
        if (!grads[i]) continue;
        if (sizes[i] < 0 || counts[i] < 0) return PAT_EBADARG;
        if (sizes[i] == 0) continue;
        if (!params[i]) return PAT_ENULL;
        for (int k = 0; k < ntabs; k++)
            if (!tabs[k][i]) return PAT_ENULL;
    }
    return PAT_OK;
}

/* Both instantiations of one kernel: ONE(name, args...) calls name_f32 or name_f64. */
#define ONE(name, ...)                                                                     \
    do {                                                                                   \
        if (dtype == PAT_F32) name##_f32(__VA_ARGS__);                                     \
        else name##_f64(__VA_ARGS__);                                                      \
    } while (0)

int pat_sgd_step(int dtype, int64_t nparams, void *const *params, const void *const *grads,
                 void *const *bufs, const int64_t *sizes, int64_t *counts, double lr,
                 double momentum, double dampening, double weight_decay, int flags) {
    void *const *tabs[1] = {bufs};
    int rc = check_tables(dtype, nparams, params, grads, sizes, counts, tabs,
                          momentum != 0 ? 1 : 0);
    if (rc != PAT_OK || nparams == 0) return rc;
    for (int64_t i = 0; i < nparams; i++) {
        if (!grads[i]) continue;
        if (sizes[i] > 0) {
            void *buf = momentum != 0 ? bufs[i] : NULL;
            const int init = counts[i] == 0;
            ONE(sgd_one, params[i], grads[i], buf, sizes[i], lr, momentum, dampening,
                weight_decay, flags, init);
        }
        if (momentum != 0) counts[i]++;
    }
    return PAT_OK;
}

int pat_adam_step(int dtype, int64_t nparams, void *const *params, const void *const *grads,
                  void *const *exp_avgs, void *const *exp_avg_sqs,
                  void *const *max_exp_avg_sqs, const int64_t *sizes, int64_t *steps,
                  double lr, double beta1, double beta2, double eps, double weight_decay,
                  int flags) {
    void *const *tabs[3] = {exp_avgs, exp_avg_sqs, max_exp_avg_sqs};
    const int ams = (flags & PAT_OPT_AMSGRAD) != 0;
    int rc = check_tables(dtype, nparams, params, grads, sizes, steps, tabs, ams ? 3 : 2);
    if (rc != PAT_OK || nparams == 0) return rc;
    for (int64_t i = 0; i < nparams; i++) {
        if (!grads[i]) continue;
        const int64_t step = ++steps[i];
        if (sizes[i] == 0) continue;
        ONE(adam_one, params[i], grads[i], exp_avgs[i], exp_avg_sqs[i],
            ams ? max_exp_avg_sqs[i] : NULL, sizes[i], step, lr, beta1, beta2, eps,
            weight_decay, flags);
    }
    return PAT_OK;
}

int pat_rmsprop_step(int dtype, int64_t nparams, void *const *params,
                     const void *const *grads, void *const *square_avgs,
                     void *const *momentum_bufs, void *const *grad_avgs, const int64_t *sizes,
                     int64_t *steps, double lr, double alpha, double eps, double weight_decay,
                     double momentum, int flags) {
    const int centered = (flags & PAT_OPT_CENTERED) != 0, mom = momentum > 0;
    void *const *tabs[3] = {square_avgs, mom ? momentum_bufs : square_avgs,
                            centered ? grad_avgs : square_avgs};
    int rc = check_tables(dtype, nparams, params, grads, sizes, steps, tabs, 3);
    if (rc != PAT_OK || nparams == 0) return rc;
    for (int64_t i = 0; i < nparams; i++) {
        if (!grads[i]) continue;
        ++steps[i];
        if (sizes[i] == 0) continue;
        ONE(rmsprop_one, params[i], grads[i], square_avgs[i], mom ? momentum_bufs[i] : NULL,
            centered ? grad_avgs[i] : NULL, sizes[i], lr, alpha, eps, weight_decay, momentum,
            flags);
    }
    return PAT_OK;
}

int pat_adagrad_step(int dtype, int64_t nparams, void *const *params,
                     const void *const *grads, void *const *sums, const int64_t *sizes,
                     int64_t *steps, double lr, double lr_decay, double weight_decay,
                     double eps, int flags) {
    void *const *tabs[1] = {sums};
    int rc = check_tables(dtype, nparams, params, grads, sizes, steps, tabs, 1);
    if (rc != PAT_OK || nparams == 0) return rc;
    for (int64_t i = 0; i < nparams; i++) {
        if (!grads[i]) continue;
        const int64_t step = ++steps[i];
        if (sizes[i] == 0) continue;
        ONE(adagrad_one, params[i], grads[i], sums[i], sizes[i], step, lr, lr_decay,
            weight_decay, eps, flags);
    }
    return PAT_OK;
}

int pat_adadelta_step(int dtype, int64_t nparams, void *const *params,
                      const void *const *grads, void *const *square_avgs,
                      void *const *acc_deltas, const int64_t *sizes, int64_t *steps,
                      double lr, double rho, double eps, double weight_decay, int flags) {
    void *const *tabs[2] = {square_avgs, acc_deltas};
    int rc = check_tables(dtype, nparams, params, grads, sizes, steps, tabs, 2);
    if (rc != PAT_OK || nparams == 0) return rc;
    for (int64_t i = 0; i < nparams; i++) {
        if (!grads[i]) continue;
        ++steps[i];
        if (sizes[i] == 0) continue;
        ONE(adadelta_one, params[i], grads[i], square_avgs[i], acc_deltas[i], sizes[i], lr,
            rho, eps, weight_decay, flags);
    }
    return PAT_OK;
}

int pat_adamax_step(int dtype, int64_t nparams, void *const *params, const void *const *grads,
                    void *const *exp_avgs, void *const *exp_infs, const int64_t *sizes,
                    int64_t *steps, double lr, double beta1, double beta2, double eps,
                    double weight_decay, int flags) {
    void *const *tabs[2] = {exp_avgs, exp_infs};
    int rc = check_tables(dtype, nparams, params, grads, sizes, steps, tabs, 2);
    if (rc != PAT_OK || nparams == 0) return rc;
    for (int64_t i = 0; i < nparams; i++) {
        if (!grads[i]) continue;
        const int64_t step = ++steps[i];
        if (sizes[i] == 0) continue;
        ONE(adamax_one, params[i], grads[i], exp_avgs[i], exp_infs[i], sizes[i], step, lr,
            beta1, beta2, eps, weight_decay, flags);
    }
    return PAT_OK;
}

int pat_nadam_step(int dtype, int64_t nparams, void *const *params, const void *const *grads,
                   void *const *exp_avgs, void *const *exp_avg_sqs, void *const *mu_products,
                   const int64_t *sizes, int64_t *steps, double lr, double beta1,
                   double beta2, double eps, double weight_decay, double momentum_decay,
                   int flags) {
    void *const *tabs[3] = {exp_avgs, exp_avg_sqs, mu_products};
    int rc = check_tables(dtype, nparams, params, grads, sizes, steps, tabs, 3);
    if (rc != PAT_OK || nparams == 0) return rc;
    for (int64_t i = 0; i < nparams; i++) {
        if (!grads[i]) continue;
        const double step = (double)++steps[i];
        /* the scalars in double, as torch's Python code computes them */
        const double mu = beta1 * (1.0 - 0.5 * pow(0.96, step * momentum_decay));
        const double mu_next = beta1 * (1.0 - 0.5 * pow(0.96, (step + 1) * momentum_decay));
        double *const mp = (double *)mu_products[i];
        const double prod = *mp * mu;
        *mp = prod;
        if (sizes[i] == 0) continue;
        const double c_grad = -lr * (1.0 - mu) / (1.0 - prod);
        const double c_avg = (-lr * mu_next) / (1.0 - prod * mu_next);
        ONE(nadam_one, params[i], grads[i], exp_avgs[i], exp_avg_sqs[i], sizes[i],
            1.0 - pow(beta2, step), lr, beta1, beta2, eps, weight_decay, c_grad, c_avg, flags);
    }
    return PAT_OK;
}

int pat_radam_step(int dtype, int64_t nparams, void *const *params, const void *const *grads,
                   void *const *exp_avgs, void *const *exp_avg_sqs, const int64_t *sizes,
                   int64_t *steps, double lr, double beta1, double beta2, double eps,
                   double weight_decay, int flags) {
    void *const *tabs[2] = {exp_avgs, exp_avg_sqs};
    int rc = check_tables(dtype, nparams, params, grads, sizes, steps, tabs, 2);
    if (rc != PAT_OK || nparams == 0) return rc;
    for (int64_t i = 0; i < nparams; i++) {
        if (!grads[i]) continue;
        const int64_t step = ++steps[i];
        if (sizes[i] == 0) continue;
        ONE(radam_one, params[i], grads[i], exp_avgs[i], exp_avg_sqs[i], sizes[i], step, lr,
            beta1, beta2, eps, weight_decay, flags);
    }
    return PAT_OK;
}
