/* rules_t.h: the scalar math of every elementwise op, written once, instantiated for
   T = float and T = double (see typed.h) by eltwise.c.

   Contract: one block per op of csrc/ops.def's PAT_UNARY and PAT_BINARY rows, named after
   the op. Every elementwise loop (eltwise_t.h) calls these and nothing else for an op's
   math, so the forward, reverse, tangent and second-order sweeps cannot disagree:

   unary  y = f(x), alpha the op's parameter (relu's subgradient, leaky_relu's slope):
     name_f(x, a)              f(x)
     name_d(g, x, y, a)        g f'(x): the reverse rule (g = dy, dx += it) and, since the
                               Jacobian is diagonal, the tangent rule (g = tx, ty += it)
     name_d2(g, t, x, y, a)    g f''(x) t: the second-order term (CURVED ops only;
                               gx += it for the adjoint g of y and the tangent t of x)
   binary y = f(a, b), p = a, q = b:
     name_f(p, q, a)           f(p, q)
     name_da(g, p, q, a)       g df/da   (reverse: ga += it; tangent with g = ta: ty += it)
     name_db(g, p, q, a)       g df/db
     name_soa(p, q, tp, tq, ...)   the second-order terms (CURVED ops only)

   A rule is called only with the values its READS in ops.def names; the others are 0.
   A derivative with a kink is a selection (`?:`), never a product with a 0/1 mask, so a
   NaN or Inf arriving at a unit whose partial is zero cannot leak through it. */

/* ---- unary ---------------------------------------------------------------------------- */

/* neg: y = -x; y' = -1 */
static inline T SFX(neg_f)(T x, T a) { (void)a; return -x; }
static inline T SFX(neg_d)(T g, T x, T y, T a) { (void)x; (void)y; (void)a; return -g; }

/* exp: y = e^x; y' = y'' = y */
static inline T SFX(exp_f)(T x, T a) { (void)a; return M(exp)(x); }
static inline T SFX(exp_d)(T g, T x, T y, T a) { (void)x; (void)a; return g * y; }
static inline T SFX(exp_d2)(T g, T t, T x, T y, T a) { (void)x; (void)a; return g * y * t; }

/* log: y' = 1/x (+inf at 0, as JAX and PyTorch); y'' = -1/x^2 */
static inline T SFX(log_f)(T x, T a) { (void)a; return M(log)(x); }
static inline T SFX(log_d)(T g, T x, T y, T a) { (void)y; (void)a; return g / x; }
static inline T SFX(log_d2)(T g, T t, T x, T y, T a) {
    (void)y; (void)a;
    return -(g * t / (x * x));
}

/* sqrt: y' = 1/(2 sqrt x) = 0.5/y (+inf at 0); y'' = -1/(4 x^1.5) = -0.25/y^3 */
static inline T SFX(sqrt_f)(T x, T a) { (void)a; return M(sqrt)(x); }
static inline T SFX(sqrt_d)(T g, T x, T y, T a) { (void)x; (void)a; return g * (T)0.5 / y; }
static inline T SFX(sqrt_d2)(T g, T t, T x, T y, T a) {
    (void)x; (void)a;
    return -((T)0.25 * g * t / (y * y * y));
}

/* tanh: y' = 1 - y^2; y'' = -2 y (1 - y^2) */
static inline T SFX(tanh_f)(T x, T a) { (void)a; return M(tanh)(x); }
static inline T SFX(tanh_d)(T g, T x, T y, T a) { (void)x; (void)a; return g * ((T)1 - y * y); }
static inline T SFX(tanh_d2)(T g, T t, T x, T y, T a) {
    (void)x; (void)a;
    return -((T)2 * g * y * ((T)1 - y * y) * t);
}

/* sigmoid: y = 1/(1 + e^-x), in two branches so exp never overflows (x < 0: e^x/(1+e^x));
   y' = y (1 - y); y'' = y (1 - y) (1 - 2y) */
static inline T SFX(sigmoid_f)(T x, T a) {
    (void)a;
    if (x >= 0) return (T)1 / ((T)1 + M(exp)(-x));
    const T e = M(exp)(x);
    return e / ((T)1 + e);
}
static inline T SFX(sigmoid_d)(T g, T x, T y, T a) {
    (void)x; (void)a;
    return g * y * ((T)1 - y);
}
static inline T SFX(sigmoid_d2)(T g, T t, T x, T y, T a) {
    (void)x; (void)a;
    return g * y * ((T)1 - y) * ((T)1 - (T)2 * y) * t;
}

/* relu: y = max(x, 0) with relu(NaN) = NaN (as NumPy, PyTorch, JAX): !(x <= 0) is "above 0
   or NaN" in one ordered compare, which vectorises. y' = 1 above 0 and at NaN (PyTorch's
   threshold_backward passes dy there), alpha at exactly 0, 0 below. The rule is given
   x, or y when alpha == 0 (READS OUT_OR_S0): y > 0 exactly when x > 0, and y == 0 covers
   x <= 0, whose partial is then 0 either way; `a != 0` keeps 0 * NaN out of it. */
static inline T SFX(relu_f)(T x, T a) { (void)a; return !(x <= 0) ? x : (T)0; }
static inline T SFX(relu_d)(T g, T x, T y, T a) {
    (void)y;
    const T at0 = x == 0 ? a * g : (T)0;  /* two plain selects: the loop vectorises */
    return !(x <= 0) ? g : (a != 0 ? at0 : (T)0);
}

/* leaky_relu: y = x above 0 (and at NaN), a x at or below; y' = 1 or a (a at 0, as
   PyTorch) */
static inline T SFX(leaky_relu_f)(T x, T a) { return !(x <= 0) ? x : a * x; }
static inline T SFX(leaky_relu_d)(T g, T x, T y, T a) {
    (void)y;
    return !(x <= 0) ? g : a * g;
}

/* ---- binary --------------------------------------------------------------------------- */

/* add: da = db = 1 */
static inline T SFX(add_f)(T p, T q, T a) { (void)a; return p + q; }
static inline T SFX(add_da)(T g, T p, T q, T a) { (void)p; (void)q; (void)a; return g; }
static inline T SFX(add_db)(T g, T p, T q, T a) { (void)p; (void)q; (void)a; return g; }

/* sub: da = 1, db = -1 */
static inline T SFX(sub_f)(T p, T q, T a) { (void)a; return p - q; }
static inline T SFX(sub_da)(T g, T p, T q, T a) { (void)p; (void)q; (void)a; return g; }
static inline T SFX(sub_db)(T g, T p, T q, T a) { (void)p; (void)q; (void)a; return -g; }

/* mul: d(ab) = b da + a db; the second derivatives d2/dadb = 1 */
static inline T SFX(mul_f)(T p, T q, T a) { (void)a; return p * q; }
static inline T SFX(mul_da)(T g, T p, T q, T a) { (void)p; (void)a; return g * q; }
static inline T SFX(mul_db)(T g, T p, T q, T a) { (void)q; (void)a; return g * p; }
static inline void SFX(mul_soa)(T p, T q, T tp, T tq, int ta, int tb, int gb, T *pa, T *pb) {
    (void)p; (void)q; (void)ta; (void)tb; (void)gb;
    *pa = tq;
    *pb = tp;
}

/* div: d(a/b) = da / b - a db / b^2; d2/dadb = -1/b^2, d2/db2 = 2a/b^3. b^2 is never
   formed: -(g (a/b)) / b keeps -1e23 at a = 1, b = 1e-23 in float32 (b^2 underflows to 0),
   and at a == b the quotient a/b is exactly 1, so d(x/x)/dx = g/b - g/b = 0 exactly. The
   second-order terms divide by b one factor at a time for the same reason. */
static inline T SFX(div_f)(T p, T q, T a) { (void)a; return p / q; }
static inline T SFX(div_da)(T g, T p, T q, T a) { (void)p; (void)a; return g / q; }
static inline T SFX(div_db)(T g, T p, T q, T a) { (void)a; return -(g * (p / q)) / q; }
static inline void SFX(div_soa)(T p, T q, T tp, T tq, int ta, int tb, int gb, T *pa, T *pb) {
    (void)ta; (void)tb; (void)gb;
    *pa = -(tq / q) / q;
    *pb = -(tp / q) / q + (T)2 * ((p / q) * (tq / q)) / q;
}

/* pow: d(a^b) = b a^(b-1) da + a^b log(a) db. b == 0 gives 0 even at a == 0 (not 0 * inf);
   a == 0 with b >= 0 gives a zero exponent partial (not 0 * -inf). Both as PyTorch. */
static inline T SFX(pow_f)(T p, T q, T a) { (void)a; return M(pow)(p, q); }
static inline T SFX(pow_da)(T g, T p, T q, T a) {
    (void)a;
    return q == 0 ? (T)0 : g * q * M(pow)(p, q - 1);
}
static inline T SFX(pow_db)(T g, T p, T q, T a) {
    (void)a;
    return p == 0 && q >= 0 ? (T)0 : g * M(pow)(p, q) * M(log)(p);
}
/* d2/da2 = b (b-1) a^(b-2), d2/dadb = a^(b-1) (1 + b log a), d2/db2 = a^b log(a)^2; the
   singular terms at a == 0 are taken as 0, as the first derivatives are. log a (NaN for
   a < 0) is formed only when the exponent is differentiated (tb: it has a tangent; gb:
   it gets an adjoint): a constant exponent must not bring it in. */
static inline void SFX(pow_soa)(T p, T q, T tp, T tq, int ta, int tb, int gb, T *pa, T *pb) {
    const T lp = p == 0 || (!tb && !gb) ? (T)0 : M(log)(p);
    const T dpq = p == 0 ? (T)0 : M(pow)(p, q - 1) * ((T)1 + q * lp);
    T ra = 0, rb = 0;
    if (ta) {
        const T dpp = q == 0 || q == 1 ? (T)0 : q * (q - 1) * M(pow)(p, q - 2);
        ra += dpp * tp;
        rb += dpq * tp;
    }
    if (tb) {
        const T dqq = p == 0 ? (T)0 : M(pow)(p, q) * lp * lp;
        ra += dpq * tq;
        rb += dqq * tq;
    }
    *pa = ra;
    *pb = rb;
}

/* maximum, minimum: NaN propagates (as np.maximum). The winner takes g; a tie splits it
   alpha : 1 - alpha, so relu(x) and maximum(x, 0) agree; a NaN operand wins, since it is
   the output. share() is the fraction that goes to a. */
static inline T SFX(tie_share)(T p, T q, T a, int is_max) {
    if (p == q) return a;
    if (p != p) return 1;
    if (q != q) return 0;
    return (is_max ? p > q : p < q) ? (T)1 : (T)0;
}
static inline T SFX(share_a)(T g, T f) { return f == 0 ? (T)0 : f * g; }
static inline T SFX(share_b)(T g, T f) { return f == 1 ? (T)0 : ((T)1 - f) * g; }

static inline T SFX(maximum_f)(T p, T q, T a) { (void)a; return p >= q || p != p ? p : q; }
static inline T SFX(maximum_da)(T g, T p, T q, T a) {
    return SFX(share_a)(g, SFX(tie_share)(p, q, a, 1));
}
static inline T SFX(maximum_db)(T g, T p, T q, T a) {
    return SFX(share_b)(g, SFX(tie_share)(p, q, a, 1));
}

static inline T SFX(minimum_f)(T p, T q, T a) { (void)a; return p <= q || p != p ? p : q; }
static inline T SFX(minimum_da)(T g, T p, T q, T a) {
    return SFX(share_a)(g, SFX(tie_share)(p, q, a, 0));
}
static inline T SFX(minimum_db)(T g, T p, T q, T a) {
    return SFX(share_b)(g, SFX(tie_share)(p, q, a, 0));
}
