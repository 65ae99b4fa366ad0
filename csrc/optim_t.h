/* optim_t.h: optimizer updates, written once and instantiated by optim.c for T = float
   (suffix _f32, libm's f-functions) and T = double (suffix _f64).

   Contract: each function updates ONE parameter of n contiguous elements in place, with its
   state buffers, and is the exact arithmetic of PyTorch's single-tensor path
   (torch/optim/sgd.py, adam.py): every scalar is computed in double, as Python does, and
   rounded to T once, as ATen does for a float tensor; the elementwise expressions keep
   ATen's order of operations (add with alpha: a + alpha * b; lerp: the two-sided formula;
   addcmul / addcdiv: self + value * t1 * t2 and self + value * t1 / t2). The build uses
   -std=c11, which turns off floating-point contraction, so no FMA changes a rounding.

   One deliberate difference: a state value (momentum buffer, exp_avg, exp_avg_sq) that
   falls below T's smallest normal number (TMIN) is stored as 0. A moment that decays
   under a zero gradient otherwise sticks as a denormal (m - 0.1 m rounds back to m), and
   every later step then takes the CPU's slow denormal path: Adam on the default digits
   MLP ran 5x slower after 800 steps. Above TMIN the arithmetic is untouched. */

/* x, or 0 when x is a denormal (NaN and Inf pass through) */
static inline T SFX(flush)(T x) {
    return M(fabs)(x) < TMIN ? (T)0 : x;
}

/* SGD on p(n), g(n), buf(n).
   g' = g + wd * p;  buf = flush(init ? g' : momentum * buf + (1 - dampening) * g');
   d = momentum == 0 ? g' : nesterov ? g' + momentum * buf : buf;  p += (-lr) * d */
static void SFX(sgd_one)(T *restrict p, const T *restrict g, T *restrict buf, int64_t n,
                         double lr, double momentum, double dampening, double weight_decay,
                         int nesterov, int init) {
    const T wd = (T)weight_decay, mom = (T)momentum, damp1 = (T)(1.0 - dampening);
    const T neg_lr = (T)(-lr);
    for (int64_t i = 0; i < n; i++) {
        T d = weight_decay != 0 ? g[i] + wd * p[i] : g[i];
        if (momentum != 0) {
            const T b = SFX(flush)(init ? d : buf[i] * mom + damp1 * d);
            buf[i] = b;
            d = nesterov ? d + mom * b : b;
        }
        p[i] = p[i] + neg_lr * d;
    }
}

/* Adam / AdamW on p(n), g(n), m(n), v(n), at step `step` (1 on the first update).
   AdamW (decoupled): p *= 1 - lr * wd first; Adam: g' = g + wd * p.
   m = flush(lerp(m, g', 1 - beta1));  v = flush(beta2 * v + (1 - beta2) * g' * g');
   denom = sqrt(v) / sqrt(1 - beta2^step) + eps;  p += (-lr / (1 - beta1^step)) * m / denom */
static void SFX(adam_one)(T *restrict p, const T *restrict g, T *restrict m, T *restrict v,
                          int64_t n, int64_t step, double lr, double beta1, double beta2,
                          double eps, double weight_decay, int decoupled) {
    /* the scalars exactly as torch's Python code computes them, in double */
    const double bias_correction1 = 1.0 - pow(beta1, (double)step);
    const double bias_correction2 = 1.0 - pow(beta2, (double)step);
    const double step_size = lr / bias_correction1;
    const double bias_correction2_sqrt = pow(bias_correction2, 0.5);  /* Python's ** 0.5 */
    const T w1 = (T)(1.0 - beta1), b2 = (T)beta2, w2 = (T)(1.0 - beta2);
    const T bc2s = (T)bias_correction2_sqrt, e = (T)eps, neg_step = (T)(-step_size);
    const T wd = (T)weight_decay, shrink = (T)(1.0 - lr * weight_decay);
    const int half = M(fabs)(w1) < (T)0.5;
    for (int64_t i = 0; i < n; i++) {
        T pi = p[i];
        T gi = g[i];
        if (weight_decay != 0) {
            if (decoupled) pi = pi * shrink;
            else gi = gi + wd * pi;
        }
        /* ATen's lerp: self + w * (end - self) for |w| < 0.5, else end - (end - self) * (1 - w) */
        const T lerp = half ? m[i] + w1 * (gi - m[i]) : gi - (gi - m[i]) * ((T)1 - w1);
        const T mi = SFX(flush)(lerp);
        const T vi = SFX(flush)(v[i] * b2 + w2 * gi * gi);
        const T denom = M(sqrt)(vi) / bc2s + e;
        m[i] = mi;
        v[i] = vi;
        p[i] = pi + neg_step * mi / denom;
    }
}
