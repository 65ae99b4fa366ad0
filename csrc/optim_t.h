/* optim_t.h: optimizer updates, written once and instantiated by optim.c for T = float
   (suffix _f32, libm's f-functions) and T = double (suffix _f64).

   Contract: each function updates ONE parameter of n contiguous elements in place, with its
   state buffers, and is the exact arithmetic of PyTorch's single-tensor path
   (torch/optim/: sgd.py, adam.py, rmsprop.py, ...): every scalar is computed in double, as Python does, and
   rounded to T once, as ATen does for a float tensor; the elementwise expressions keep
   ATen's order of operations (add with alpha: a + alpha * b; lerp: the two-sided formula;
   addcmul / addcdiv: self + value * t1 * t2 and self + value * t1 / t2). The build uses
   -std=c11, which turns off floating-point contraction, so no FMA changes a rounding.

   One deliberate difference: a decaying state value (momentum buffer, exp_avg, exp_avg_sq, ...) that
   falls below T's smallest normal number (TMIN) is stored as 0. A moment that decays
   under a zero gradient otherwise sticks as a denormal (m - 0.1 m rounds back to m), and
   every later step then takes the CPU's slow denormal path: Adam on the default digits
   MLP ran 5x slower after 800 steps. Above TMIN the arithmetic is untouched. */

/* x, or 0 when x is a denormal (NaN and Inf pass through) */
static inline T SFX(flush)(T x) {
    return M(fabs)(x) < TMIN ? (T)0 : x;
}

/* g, negated under PAT_OPT_MAXIMIZE, plus wd * p unless wd == 0 (torch: grad = -grad;
   grad = grad.add(param, alpha=weight_decay)) */
static inline T SFX(grad_in)(T g, T p, int neg, double weight_decay, T wd) {
    const T gi = neg ? -g : g;
    return weight_decay != 0 ? gi + wd * p : gi;
}

/* ATen's lerp(a, b, w): a + w * (b - a) for |w| < 0.5, else b - (b - a) * (1 - w) */
static inline T SFX(lerp)(T a, T b, T w, int half) {
    return half ? a + w * (b - a) : b - (b - a) * ((T)1 - w);
}

/* SGD on p(n), g(n), buf(n).
   g' = (maximize ? -g : g) + wd * p;
   buf = flush(init ? g' : momentum * buf + (1 - dampening) * g');
   d = momentum == 0 ? g' : nesterov ? g' + momentum * buf : buf;  p += (-lr) * d */
PAT_SIMD static void SFX(sgd_one)(T *restrict p, const T *restrict g, T *restrict buf, int64_t n,
                         double lr, double momentum, double dampening, double weight_decay,
                         int flags, int init) {
    const T wd = (T)weight_decay, mom = (T)momentum, damp1 = (T)(1.0 - dampening);
    const T neg_lr = (T)(-lr);
    const int nesterov = flags & PAT_OPT_NESTEROV, neg = (flags & PAT_OPT_MAXIMIZE) != 0;
    for (int64_t i = 0; i < n; i++) {
        T d = SFX(grad_in)(g[i], p[i], neg, weight_decay, wd);
        if (momentum != 0) {
            const T b = SFX(flush)(init ? d : buf[i] * mom + damp1 * d);
            buf[i] = b;
            d = nesterov ? d + mom * b : b;
        }
        p[i] = p[i] + neg_lr * d;
    }
}

/* Adam / AdamW on p(n), g(n), m(n), v(n) (and vmax(n) under amsgrad), at step `step`
   (1 on the first update). AdamW (decoupled): p *= 1 - lr * wd first; Adam: g' = g + wd * p.
   m = flush(lerp(m, g', 1 - beta1));  v = flush(beta2 * v + (1 - beta2) * g' * g');
   amsgrad: vmax = max(vmax, v), used for v below;
   denom = sqrt(v) / sqrt(1 - beta2^step) + eps;  p += (-lr / (1 - beta1^step)) * m / denom */
PAT_SIMD static void SFX(adam_one)(T *restrict p, const T *restrict g, T *restrict m, T *restrict v,
                          T *restrict vmax, int64_t n, int64_t step, double lr, double beta1,
                          double beta2, double eps, double weight_decay, int flags) {
    /* the scalars exactly as torch's Python code computes them, in double */
    const double bias_correction1 = 1.0 - pow(beta1, (double)step);
    const double bias_correction2 = 1.0 - pow(beta2, (double)step);
    const double step_size = lr / bias_correction1;
    const double bias_correction2_sqrt = pow(bias_correction2, 0.5);  /* Python's ** 0.5 */
    const T w1 = (T)(1.0 - beta1), b2 = (T)beta2, w2 = (T)(1.0 - beta2);
    const T bc2s = (T)bias_correction2_sqrt, e = (T)eps, neg_step = (T)(-step_size);
    const T wd = (T)weight_decay, shrink = (T)(1.0 - lr * weight_decay);
    const int half = M(fabs)(w1) < (T)0.5, neg = (flags & PAT_OPT_MAXIMIZE) != 0;
    const int decoupled = flags & PAT_OPT_DECOUPLED;
    for (int64_t i = 0; i < n; i++) {
        T pi = p[i];
        T gi = neg ? -g[i] : g[i];
        if (weight_decay != 0) {
            if (decoupled) pi = pi * shrink;
            else gi = gi + wd * pi;
        }
        const T mi = SFX(flush)(SFX(lerp)(m[i], gi, w1, half));
        const T vi = SFX(flush)(v[i] * b2 + w2 * gi * gi);
        m[i] = mi;
        v[i] = vi;
        T vd = vi;
        if (vmax) {  /* torch.maximum: NaN wins */
            const T old = vmax[i];
            vd = (vi != vi || old != old) ? vi + old : (vi > old ? vi : old);
            vmax[i] = vd;
        }
        const T denom = M(sqrt)(vd) / bc2s + e;
        p[i] = pi + neg_step * mi / denom;
    }
}

/* RMSprop on p(n), g(n), v(n) (square_avg), b(n) (momentum, NULL without), a(n) (grad_avg,
   NULL unless centred):  v = flush(alpha * v + (1 - alpha) * g' * g');
   centred: a = flush(lerp(a, g', 1 - alpha)), avg = sqrt(v + (-1) * a * a) + eps;
   else avg = sqrt(v) + eps;  momentum: b = flush(momentum * b + g' / avg), p += (-lr) * b;
   else p += (-lr) * g' / avg */
PAT_SIMD static void SFX(rmsprop_one)(T *restrict p, const T *restrict g, T *restrict v,
                             T *restrict b, T *restrict a, int64_t n, double lr, double alpha,
                             double eps, double weight_decay, double momentum, int flags) {
    const T al = (T)alpha, w = (T)(1.0 - alpha), e = (T)eps, wd = (T)weight_decay;
    const T mom = (T)momentum, neg_lr = (T)(-lr);
    const int half = M(fabs)(w) < (T)0.5, neg = (flags & PAT_OPT_MAXIMIZE) != 0;
    for (int64_t i = 0; i < n; i++) {
        const T gi = SFX(grad_in)(g[i], p[i], neg, weight_decay, wd);
        const T vi = SFX(flush)(v[i] * al + w * gi * gi);
        v[i] = vi;
        T avg;
        if (a) {
            const T ai = SFX(flush)(SFX(lerp)(a[i], gi, w, half));
            a[i] = ai;
            avg = M(sqrt)(vi + (T)(-1) * ai * ai) + e;
        } else {
            avg = M(sqrt)(vi) + e;
        }
        if (b) {
            const T bi = SFX(flush)(b[i] * mom + gi / avg);
            b[i] = bi;
            p[i] = p[i] + neg_lr * bi;
        } else {
            p[i] = p[i] + neg_lr * gi / avg;
        }
    }
}

/* Adagrad on p(n), g(n), s(n) at step `step`: clr = lr / (1 + (step - 1) * lr_decay);
   s = s + 1 * g' * g';  p += (-clr) * g' / (sqrt(s) + eps) */
PAT_SIMD static void SFX(adagrad_one)(T *restrict p, const T *restrict g, T *restrict s, int64_t n,
                             int64_t step, double lr, double lr_decay, double weight_decay,
                             double eps, int flags) {
    const double clr = lr / (1.0 + (double)(step - 1) * lr_decay);
    const T neg_clr = (T)(-clr), e = (T)eps, wd = (T)weight_decay;
    const int neg = (flags & PAT_OPT_MAXIMIZE) != 0;
    for (int64_t i = 0; i < n; i++) {
        const T gi = SFX(grad_in)(g[i], p[i], neg, weight_decay, wd);
        const T si = s[i] + gi * gi;
        s[i] = si;
        p[i] = p[i] + neg_clr * gi / (M(sqrt)(si) + e);
    }
}

/* Adadelta on p(n), g(n), v(n) (square_avg), u(n) (acc_delta):
   v = flush(rho * v + (1 - rho) * g' * g');  d = sqrt(u + eps) / sqrt(v + eps) * g';
   u = flush(rho * u + (1 - rho) * d * d);  p += (-lr) * d */
static void SFX(adadelta_one)(T *restrict p, const T *restrict g, T *restrict v,
                              T *restrict u, int64_t n, double lr, double rho, double eps,
                              double weight_decay, int flags) {
    const T r = (T)rho, w = (T)(1.0 - rho), e = (T)eps, wd = (T)weight_decay;
    const T neg_lr = (T)(-lr);
    const int neg = (flags & PAT_OPT_MAXIMIZE) != 0;
    for (int64_t i = 0; i < n; i++) {
        const T gi = SFX(grad_in)(g[i], p[i], neg, weight_decay, wd);
        const T vi = SFX(flush)(v[i] * r + w * gi * gi);
        v[i] = vi;
        const T d = M(sqrt)(u[i] + e) / M(sqrt)(vi + e) * gi;
        u[i] = SFX(flush)(u[i] * r + w * d * d);
        p[i] = p[i] + neg_lr * d;
    }
}

/* Adamax on p(n), g(n), m(n) (exp_avg), u(n) (exp_inf) at step `step`:
   m = flush(lerp(m, g', 1 - beta1));  u = flush(max(beta2 * u, |g'| + eps));
   p += (-lr / (1 - beta1^step)) * m / u */
static void SFX(adamax_one)(T *restrict p, const T *restrict g, T *restrict m, T *restrict u,
                            int64_t n, int64_t step, double lr, double beta1, double beta2,
                            double eps, double weight_decay, int flags) {
    const double clr = lr / (1.0 - pow(beta1, (double)step));
    const T w1 = (T)(1.0 - beta1), b2 = (T)beta2, e = (T)eps, wd = (T)weight_decay;
    const T neg_clr = (T)(-clr);
    const int half = M(fabs)(w1) < (T)0.5, neg = (flags & PAT_OPT_MAXIMIZE) != 0;
    for (int64_t i = 0; i < n; i++) {
        const T gi = SFX(grad_in)(g[i], p[i], neg, weight_decay, wd);
        const T mi = SFX(flush)(SFX(lerp)(m[i], gi, w1, half));
        const T x = u[i] * b2, y = M(fabs)(gi) + e;
        const T ui = SFX(flush)((x != x || y != y) ? x + y : (x > y ? x : y));
        m[i] = mi;
        u[i] = ui;
        p[i] = p[i] + neg_clr * mi / ui;
    }
}

/* NAdam on p(n), g(n), m(n), v(n); bc2 = 1 - beta2^step and the two step sizes
   c_grad = -lr (1 - mu_t) / (1 - prod), c_avg = -lr mu_{t+1} / (1 - prod mu_{t+1}) come
   from the caller. Decoupled: p *= 1 - lr * wd, else g' = g + wd * p;
   m = flush(lerp(m, g', 1 - beta1)); v = flush(beta2 * v + (1 - beta2) * g' * g');
   denom = sqrt(v / bc2) + eps;  p += c_grad * g' / denom;  p += c_avg * m / denom */
static void SFX(nadam_one)(T *restrict p, const T *restrict g, T *restrict m, T *restrict v,
                           int64_t n, double bc2, double lr, double beta1, double beta2,
                           double eps, double weight_decay, double c_grad, double c_avg,
                           int flags) {
    const T w1 = (T)(1.0 - beta1), b2 = (T)beta2, w2 = (T)(1.0 - beta2), e = (T)eps;
    const T wd = (T)weight_decay, shrink = (T)(1.0 - lr * weight_decay), tbc2 = (T)bc2;
    const T cg = (T)c_grad, ca = (T)c_avg;
    const int half = M(fabs)(w1) < (T)0.5, neg = (flags & PAT_OPT_MAXIMIZE) != 0;
    const int decoupled = flags & PAT_OPT_DECOUPLED;
    for (int64_t i = 0; i < n; i++) {
        T pi = p[i];
        T gi = neg ? -g[i] : g[i];
        if (weight_decay != 0) {
            if (decoupled) pi = pi * shrink;
            else gi = gi + wd * pi;
        }
        const T mi = SFX(flush)(SFX(lerp)(m[i], gi, w1, half));
        const T vi = SFX(flush)(v[i] * b2 + w2 * gi * gi);
        m[i] = mi;
        v[i] = vi;
        const T denom = M(sqrt)(vi / tbc2) + e;
        pi = pi + cg * gi / denom;
        p[i] = pi + ca * mi / denom;
    }
}

/* RAdam on p(n), g(n), m(n), v(n) at step `step`: decoupled or L2 decay as NAdam; m, v as
   Adam; rho_inf = 2 / (1 - beta2) - 1, rho_t = rho_inf - 2 step beta2^step / bc2;
   rho_t > 5: p += -(m / bc1 * lr * (sqrt(bc2) / (sqrt(v) + eps)) * rect), with
   rect = ((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))^0.5;
   else p += -(m / bc1 * lr)  (bc1 = 1 - beta1^step, bc2 = 1 - beta2^step) */
static void SFX(radam_one)(T *restrict p, const T *restrict g, T *restrict m, T *restrict v,
                           int64_t n, int64_t step, double lr, double beta1, double beta2,
                           double eps, double weight_decay, int flags) {
    const double t = (double)step;
    const double bc1 = 1.0 - pow(beta1, t), bc2 = 1.0 - pow(beta2, t);
    const double rho_inf = 2.0 / (1.0 - beta2) - 1.0;
    const double rho_t = rho_inf - 2.0 * t * pow(beta2, t) / bc2;
    const int rectify = rho_t > 5.0;
    const double rect = rectify ? pow((rho_t - 4.0) * (rho_t - 2.0) * rho_inf /
                                      ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t), 0.5)
                                : 0.0;
    const T w1 = (T)(1.0 - beta1), b2 = (T)beta2, w2 = (T)(1.0 - beta2), e = (T)eps;
    const T wd = (T)weight_decay, shrink = (T)(1.0 - lr * weight_decay);
    const T tbc1 = (T)bc1, tlr = (T)lr, bc2s = (T)pow(bc2, 0.5), trect = (T)rect;
    const int half = M(fabs)(w1) < (T)0.5, neg = (flags & PAT_OPT_MAXIMIZE) != 0;
    const int decoupled = flags & PAT_OPT_DECOUPLED;
    for (int64_t i = 0; i < n; i++) {
        T pi = p[i];
        T gi = neg ? -g[i] : g[i];
        if (weight_decay != 0) {
            if (decoupled) pi = pi * shrink;
            else gi = gi + wd * pi;
        }
        const T mi = SFX(flush)(SFX(lerp)(m[i], gi, w1, half));
        const T vi = SFX(flush)(v[i] * b2 + w2 * gi * gi);
        m[i] = mi;
        v[i] = vi;
        const T corrected = mi / tbc1 * tlr;
        const T upd = rectify ? corrected * (bc2s / (M(sqrt)(vi) + e)) * trect : corrected;
        p[i] = pi + (T)(-1) * upd;
    }
}
