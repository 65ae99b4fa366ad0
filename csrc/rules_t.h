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

/* ---- math ops: unary ------------------------------------------------------------------

   Zero-gradient ops (sign, floor, ceil, round, trunc) are LINEAR with READS NONE: their
   rule returns 0, never g * 0, so a NaN adjoint does not leak through them (PyTorch
   returns zeros too). Kinks take PyTorch's value, named at each op. */

#define PAT_LN2 ((T)0.693147180559945309417232121458176568)
#define PAT_LN10 ((T)2.30258509299404568401799145468436421)
#define PAT_2_SQRTPI ((T)1.12837916709551257389615890312154517)   /* 2/sqrt(pi) */
#define PAT_1_SQRT2PI ((T)0.398942280401432677939946059934381868) /* 1/sqrt(2 pi) */
#define PAT_SQRT1_2 ((T)0.707106781186547524400844362104849039)   /* 1/sqrt(2) */
#define PAT_SQRT_2_PI ((T)0.797884560802865355879892119868763737) /* sqrt(2/pi) */
#define PAT_SELU_ALPHA ((T)1.67326324235437728481704299167171454)
#define PAT_SELU_SCALE ((T)1.05070098735548049341933498529460454)

/* abs: y' = sign(x), 0 at 0 (PyTorch's sgn) */
static inline T SFX(abs_f)(T x, T a) { (void)a; return M(fabs)(x); }
static inline T SFX(abs_d)(T g, T x, T y, T a) {
    (void)y; (void)a;
    return x > 0 ? g : (x < 0 ? -g : (T)0);
}

/* sign: -1, 0, 1 (and NaN for NaN, -0 for -0); y' = 0 */
static inline T SFX(sign_f)(T x, T a) { (void)a; return x > 0 ? (T)1 : (x < 0 ? (T)-1 : x); }
static inline T SFX(sign_d)(T g, T x, T y, T a) { (void)g; (void)x; (void)y; (void)a; return 0; }

/* sin: y' = cos x; y'' = -sin x */
static inline T SFX(sin_f)(T x, T a) { (void)a; return M(sin)(x); }
static inline T SFX(sin_d)(T g, T x, T y, T a) { (void)y; (void)a; return g * M(cos)(x); }
static inline T SFX(sin_d2)(T g, T t, T x, T y, T a) {
    (void)y; (void)a;
    return -(g * M(sin)(x) * t);
}

/* cos: y' = -sin x; y'' = -cos x */
static inline T SFX(cos_f)(T x, T a) { (void)a; return M(cos)(x); }
static inline T SFX(cos_d)(T g, T x, T y, T a) { (void)y; (void)a; return -(g * M(sin)(x)); }
static inline T SFX(cos_d2)(T g, T t, T x, T y, T a) {
    (void)y; (void)a;
    return -(g * M(cos)(x) * t);
}

/* tan: y' = 1 + y^2; y'' = 2 y (1 + y^2) */
static inline T SFX(tan_f)(T x, T a) { (void)a; return M(tan)(x); }
static inline T SFX(tan_d)(T g, T x, T y, T a) { (void)x; (void)a; return g * ((T)1 + y * y); }
static inline T SFX(tan_d2)(T g, T t, T x, T y, T a) {
    (void)x; (void)a;
    return (T)2 * g * y * ((T)1 + y * y) * t;
}

/* asin: y' = 1/sqrt(1 - x^2) (+inf at |x| = 1); y'' = x / (1 - x^2)^1.5 */
static inline T SFX(asin_f)(T x, T a) { (void)a; return M(asin)(x); }
static inline T SFX(asin_d)(T g, T x, T y, T a) {
    (void)y; (void)a;
    return g / M(sqrt)((T)1 - x * x);
}
static inline T SFX(asin_d2)(T g, T t, T x, T y, T a) {
    (void)y; (void)a;
    const T u = (T)1 - x * x;
    return g * x * t / (u * M(sqrt)(u));
}

/* acos: y' = -1/sqrt(1 - x^2); y'' = -x / (1 - x^2)^1.5 */
static inline T SFX(acos_f)(T x, T a) { (void)a; return M(acos)(x); }
static inline T SFX(acos_d)(T g, T x, T y, T a) {
    (void)y; (void)a;
    return -(g / M(sqrt)((T)1 - x * x));
}
static inline T SFX(acos_d2)(T g, T t, T x, T y, T a) {
    (void)y; (void)a;
    const T u = (T)1 - x * x;
    return -(g * x * t / (u * M(sqrt)(u)));
}

/* atan: y' = 1/(1 + x^2); y'' = -2x/(1 + x^2)^2 */
static inline T SFX(atan_f)(T x, T a) { (void)a; return M(atan)(x); }
static inline T SFX(atan_d)(T g, T x, T y, T a) { (void)y; (void)a; return g / ((T)1 + x * x); }
static inline T SFX(atan_d2)(T g, T t, T x, T y, T a) {
    (void)y; (void)a;
    const T u = (T)1 + x * x;
    return -((T)2 * x * g * t / (u * u));
}

/* sinh: y' = cosh x; y'' = sinh x */
static inline T SFX(sinh_f)(T x, T a) { (void)a; return M(sinh)(x); }
static inline T SFX(sinh_d)(T g, T x, T y, T a) { (void)y; (void)a; return g * M(cosh)(x); }
static inline T SFX(sinh_d2)(T g, T t, T x, T y, T a) {
    (void)y; (void)a;
    return g * M(sinh)(x) * t;
}

/* cosh: y' = sinh x; y'' = cosh x */
static inline T SFX(cosh_f)(T x, T a) { (void)a; return M(cosh)(x); }
static inline T SFX(cosh_d)(T g, T x, T y, T a) { (void)y; (void)a; return g * M(sinh)(x); }
static inline T SFX(cosh_d2)(T g, T t, T x, T y, T a) {
    (void)y; (void)a;
    return g * M(cosh)(x) * t;
}

/* asinh: y' = 1/sqrt(x^2 + 1); y'' = -x/(x^2 + 1)^1.5 */
static inline T SFX(asinh_f)(T x, T a) { (void)a; return M(asinh)(x); }
static inline T SFX(asinh_d)(T g, T x, T y, T a) {
    (void)y; (void)a;
    return g / M(sqrt)(x * x + (T)1);
}
static inline T SFX(asinh_d2)(T g, T t, T x, T y, T a) {
    (void)y; (void)a;
    const T u = x * x + (T)1;
    return -(g * x * t / (u * M(sqrt)(u)));
}

/* acosh (x >= 1): y' = 1/sqrt(x^2 - 1) (+inf at 1); y'' = -x/(x^2 - 1)^1.5 */
static inline T SFX(acosh_f)(T x, T a) { (void)a; return M(acosh)(x); }
static inline T SFX(acosh_d)(T g, T x, T y, T a) {
    (void)y; (void)a;
    return g / M(sqrt)(x * x - (T)1);
}
static inline T SFX(acosh_d2)(T g, T t, T x, T y, T a) {
    (void)y; (void)a;
    const T u = x * x - (T)1;
    return -(g * x * t / (u * M(sqrt)(u)));
}

/* atanh: y' = 1/(1 - x^2); y'' = 2x/(1 - x^2)^2 */
static inline T SFX(atanh_f)(T x, T a) { (void)a; return M(atanh)(x); }
static inline T SFX(atanh_d)(T g, T x, T y, T a) { (void)y; (void)a; return g / ((T)1 - x * x); }
static inline T SFX(atanh_d2)(T g, T t, T x, T y, T a) {
    (void)y; (void)a;
    const T u = (T)1 - x * x;
    return (T)2 * x * g * t / (u * u);
}

/* exp2: y = 2^x; y' = y ln 2; y'' = y ln^2 2 */
static inline T SFX(exp2_f)(T x, T a) { (void)a; return M(exp2)(x); }
static inline T SFX(exp2_d)(T g, T x, T y, T a) { (void)x; (void)a; return g * y * PAT_LN2; }
static inline T SFX(exp2_d2)(T g, T t, T x, T y, T a) {
    (void)x; (void)a;
    return g * y * (PAT_LN2 * PAT_LN2) * t;
}

/* expm1: y = e^x - 1; y' = y'' = y + 1 */
static inline T SFX(expm1_f)(T x, T a) { (void)a; return M(expm1)(x); }
static inline T SFX(expm1_d)(T g, T x, T y, T a) { (void)x; (void)a; return g * (y + (T)1); }
static inline T SFX(expm1_d2)(T g, T t, T x, T y, T a) {
    (void)x; (void)a;
    return g * (y + (T)1) * t;
}

/* log2: y' = 1/(x ln 2); y'' = -1/(x^2 ln 2) */
static inline T SFX(log2_f)(T x, T a) { (void)a; return M(log2)(x); }
static inline T SFX(log2_d)(T g, T x, T y, T a) { (void)y; (void)a; return g / (x * PAT_LN2); }
static inline T SFX(log2_d2)(T g, T t, T x, T y, T a) {
    (void)y; (void)a;
    return -(g * t / (x * x * PAT_LN2));
}

/* log10: y' = 1/(x ln 10); y'' = -1/(x^2 ln 10) */
static inline T SFX(log10_f)(T x, T a) { (void)a; return M(log10)(x); }
static inline T SFX(log10_d)(T g, T x, T y, T a) { (void)y; (void)a; return g / (x * PAT_LN10); }
static inline T SFX(log10_d2)(T g, T t, T x, T y, T a) {
    (void)y; (void)a;
    return -(g * t / (x * x * PAT_LN10));
}

/* log1p: y' = 1/(1 + x); y'' = -1/(1 + x)^2 */
static inline T SFX(log1p_f)(T x, T a) { (void)a; return M(log1p)(x); }
static inline T SFX(log1p_d)(T g, T x, T y, T a) { (void)y; (void)a; return g / ((T)1 + x); }
static inline T SFX(log1p_d2)(T g, T t, T x, T y, T a) {
    (void)y; (void)a;
    const T u = (T)1 + x;
    return -(g * t / (u * u));
}

/* square: y' = 2x; y'' = 2 */
static inline T SFX(square_f)(T x, T a) { (void)a; return x * x; }
static inline T SFX(square_d)(T g, T x, T y, T a) { (void)y; (void)a; return (T)2 * g * x; }
static inline T SFX(square_d2)(T g, T t, T x, T y, T a) {
    (void)x; (void)y; (void)a;
    return (T)2 * g * t;
}

/* rsqrt: y = x^-1/2; y' = -y^3 / 2; y'' = 3 y^5 / 4 */
static inline T SFX(rsqrt_f)(T x, T a) { (void)a; return (T)1 / M(sqrt)(x); }
static inline T SFX(rsqrt_d)(T g, T x, T y, T a) {
    (void)x; (void)a;
    return -((T)0.5 * g * y * y * y);
}
static inline T SFX(rsqrt_d2)(T g, T t, T x, T y, T a) {
    (void)x; (void)a;
    const T y2 = y * y;
    return (T)0.75 * g * y2 * y2 * y * t;
}

/* reciprocal: y = 1/x; y' = -y^2; y'' = 2 y^3 */
static inline T SFX(reciprocal_f)(T x, T a) { (void)a; return (T)1 / x; }
static inline T SFX(reciprocal_d)(T g, T x, T y, T a) { (void)x; (void)a; return -(g * y * y); }
static inline T SFX(reciprocal_d2)(T g, T t, T x, T y, T a) {
    (void)x; (void)a;
    return (T)2 * g * y * y * y * t;
}

/* floor, ceil, trunc, round (half to even, as PyTorch and NumPy): y' = 0 */
static inline T SFX(floor_f)(T x, T a) { (void)a; return M(floor)(x); }
static inline T SFX(floor_d)(T g, T x, T y, T a) { (void)g; (void)x; (void)y; (void)a; return 0; }
static inline T SFX(ceil_f)(T x, T a) { (void)a; return M(ceil)(x); }
static inline T SFX(ceil_d)(T g, T x, T y, T a) { (void)g; (void)x; (void)y; (void)a; return 0; }
static inline T SFX(round_f)(T x, T a) { (void)a; return M(nearbyint)(x); }
static inline T SFX(round_d)(T g, T x, T y, T a) { (void)g; (void)x; (void)y; (void)a; return 0; }
static inline T SFX(trunc_f)(T x, T a) { (void)a; return M(trunc)(x); }
static inline T SFX(trunc_d)(T g, T x, T y, T a) { (void)g; (void)x; (void)y; (void)a; return 0; }

/* erf: y' = 2/sqrt(pi) e^(-x^2); y'' = -2x y' */
static inline T SFX(erf_f)(T x, T a) { (void)a; return M(erf)(x); }
static inline T SFX(erf_d)(T g, T x, T y, T a) {
    (void)y; (void)a;
    return g * PAT_2_SQRTPI * M(exp)(-x * x);
}
static inline T SFX(erf_d2)(T g, T t, T x, T y, T a) {
    (void)y; (void)a;
    return -((T)2 * x * g * PAT_2_SQRTPI * M(exp)(-x * x) * t);
}

/* gelu, a = 0 (exact): y = x Phi(x), Phi(x) = erfc(-x/sqrt 2)/2 (accurate for x << 0),
     phi(x) = e^(-x^2/2)/sqrt(2 pi); y' = Phi + x phi; y'' = phi (2 - x^2).
   a = 1 (approximate='tanh'): u = k (x + c x^3), k = sqrt(2/pi), c = 0.044715, h = tanh u;
     y = x (1 + h)/2; y' = (1 + h)/2 + x (1 - h^2) u'/2, u' = k (1 + 3c x^2);
     y'' = (1 - h^2) u' + x (1 - h^2) (u'' - 2 h u'^2)/2, u'' = 6 k c x. */
#define PAT_GELU_C ((T)0.044715)
static inline T SFX(gelu_f)(T x, T a) {
    if (a == 0) return x * (T)0.5 * M(erfc)(-x * PAT_SQRT1_2);
    const T u = PAT_SQRT_2_PI * (x + PAT_GELU_C * x * x * x);
    return (T)0.5 * x * ((T)1 + M(tanh)(u));
}
static inline T SFX(gelu_d)(T g, T x, T y, T a) {
    (void)y;
    if (a == 0) {
        const T cdf = (T)0.5 * M(erfc)(-x * PAT_SQRT1_2);
        return g * (cdf + x * PAT_1_SQRT2PI * M(exp)((T)-0.5 * x * x));
    }
    const T x2 = x * x;
    const T h = M(tanh)(PAT_SQRT_2_PI * (x + PAT_GELU_C * x2 * x));
    const T du = PAT_SQRT_2_PI * ((T)1 + (T)3 * PAT_GELU_C * x2);
    return g * ((T)0.5 * ((T)1 + h) + (T)0.5 * x * ((T)1 - h * h) * du);
}
static inline T SFX(gelu_d2)(T g, T t, T x, T y, T a) {
    (void)y;
    const T x2 = x * x;
    if (a == 0) return g * PAT_1_SQRT2PI * M(exp)((T)-0.5 * x2) * ((T)2 - x2) * t;
    const T h = M(tanh)(PAT_SQRT_2_PI * (x + PAT_GELU_C * x2 * x));
    const T s = (T)1 - h * h;
    const T du = PAT_SQRT_2_PI * ((T)1 + (T)3 * PAT_GELU_C * x2);
    const T ddu = (T)6 * PAT_SQRT_2_PI * PAT_GELU_C * x;
    return g * (s * du + (T)0.5 * x * s * (ddu - (T)2 * h * du * du)) * t;
}

/* silu: y = x s, s = sigmoid(x); y' = s (1 + x (1 - s)); y'' = s (1 - s) (2 + x (1 - 2s)) */
static inline T SFX(silu_f)(T x, T a) { return x * SFX(sigmoid_f)(x, a); }
static inline T SFX(silu_d)(T g, T x, T y, T a) {
    (void)y;
    const T s = SFX(sigmoid_f)(x, a);
    return g * s * ((T)1 + x * ((T)1 - s));
}
static inline T SFX(silu_d2)(T g, T t, T x, T y, T a) {
    (void)y;
    const T s = SFX(sigmoid_f)(x, a);
    return g * s * ((T)1 - s) * ((T)2 + x * ((T)1 - (T)2 * s)) * t;
}

/* softplus with threshold a (beta is a scaling done in Python): y = x above a (as
   PyTorch), else log(1 + e^x) = max(x, 0) + log1p(e^-|x|), which never overflows;
   y' = 1 or sigmoid(x); y'' = 0 or s (1 - s) */
static inline T SFX(softplus_f)(T x, T a) {
    return x > a ? x : (x > 0 ? x : (T)0) + M(log1p)(M(exp)(-M(fabs)(x)));
}
static inline T SFX(softplus_d)(T g, T x, T y, T a) {
    (void)y;
    return x > a ? g : g * SFX(sigmoid_f)(x, a);
}
static inline T SFX(softplus_d2)(T g, T t, T x, T y, T a) {
    (void)y;
    const T s = SFX(sigmoid_f)(x, a);
    return x > a ? (T)0 : g * s * ((T)1 - s) * t;
}

/* elu with alpha a: y = x above 0 (and at NaN), a (e^x - 1) at or below; y' = 1 (also at
   NaN) or a e^x (a e^0 = a at 0), as PyTorch; y'' = 0 or a e^x. selu and celu alike. */
static inline T SFX(elu_f)(T x, T a) { return !(x <= 0) ? x : a * M(expm1)(x); }
static inline T SFX(elu_d)(T g, T x, T y, T a) {
    (void)y;
    return !(x <= 0) ? g : g * a * M(exp)(x);
}
static inline T SFX(elu_d2)(T g, T t, T x, T y, T a) {
    (void)y;
    return !(x <= 0) ? (T)0 : g * a * M(exp)(x) * t;
}

/* selu: scale * elu(x, alpha) with PyTorch's constants (y' at 0: scale alpha) */
static inline T SFX(selu_f)(T x, T a) {
    (void)a;
    return PAT_SELU_SCALE * (!(x <= 0) ? x : PAT_SELU_ALPHA * M(expm1)(x));
}
static inline T SFX(selu_d)(T g, T x, T y, T a) {
    (void)y; (void)a;
    return !(x <= 0) ? g * PAT_SELU_SCALE : g * (PAT_SELU_SCALE * PAT_SELU_ALPHA) * M(exp)(x);
}
static inline T SFX(selu_d2)(T g, T t, T x, T y, T a) {
    (void)y; (void)a;
    return !(x <= 0) ? (T)0 : g * (PAT_SELU_SCALE * PAT_SELU_ALPHA) * M(exp)(x) * t;
}

/* celu with alpha a != 0: y = x above 0, a (e^(x/a) - 1) at or below; y' = 1 or e^(x/a)
   (1 at 0); y'' = 0 or e^(x/a)/a */
static inline T SFX(celu_f)(T x, T a) { return !(x <= 0) ? x : a * M(expm1)(x / a); }
static inline T SFX(celu_d)(T g, T x, T y, T a) {
    (void)y;
    return !(x <= 0) ? g : g * M(exp)(x / a);
}
static inline T SFX(celu_d2)(T g, T t, T x, T y, T a) {
    (void)y;
    return !(x <= 0) ? (T)0 : g * M(exp)(x / a) / a * t;
}

/* mish: y = x h, h = tanh(softplus x), s = sigmoid(x) = softplus'; y' = h + x s (1 - h^2);
   y'' = (1 - h^2) (2s + x s (1 - s) - 2 x h s^2) */
static inline T SFX(mish_f)(T x, T a) {
    (void)a;
    return x * M(tanh)(SFX(softplus_f)(x, (T)INFINITY));
}
static inline T SFX(mish_d)(T g, T x, T y, T a) {
    (void)y; (void)a;
    const T h = M(tanh)(SFX(softplus_f)(x, (T)INFINITY)), s = SFX(sigmoid_f)(x, 0);
    return g * (h + x * s * ((T)1 - h * h));
}
static inline T SFX(mish_d2)(T g, T t, T x, T y, T a) {
    (void)y; (void)a;
    const T h = M(tanh)(SFX(softplus_f)(x, (T)INFINITY)), s = SFX(sigmoid_f)(x, 0);
    return g * ((T)1 - h * h) * ((T)2 * s + x * s * ((T)1 - s) - (T)2 * x * h * s * s) * t;
}

/* hardsigmoid: y = 0 at or below -3, 1 at or above 3, x/6 + 1/2 between; y' = 1/6 strictly
   inside (-3, 3), else 0 (PyTorch's value at both kinks) */
static inline T SFX(hardsigmoid_f)(T x, T a) {
    (void)a;
    /* clip((x + 3)/6, 0, 1), the quotient formed before the selects so that it is not
       moved into one (a division there is not speculated, and the loop would not
       vectorise); equal to PyTorch's min(max(x + 3, 0), 6)/6 */
    const T q = (x + (T)3) / (T)6;
    return q < 0 ? (T)0 : (q > 1 ? (T)1 : q);
}
static inline T SFX(hardsigmoid_d)(T g, T x, T y, T a) {
    (void)y; (void)a;
    return ((x > -3) & (x < 3) ? g : (T)0) * (T)(1.0 / 6.0);
}

/* hardswish: y = x relu6(x + 3)/6 (computed as PyTorch does: NaN at -inf); y' = 0 at or
   below -3, x/3 + 1/2 inside (-3, 3), 1 at or above 3 and at NaN (PyTorch's values at both
   ends); y'' = 1/3 inside (-3, 3) */
static inline T SFX(hardswish_f)(T x, T a) {
    (void)a;
    const T c = x + (T)3;
    return x * (c < 0 ? (T)0 : (c > 6 ? (T)6 : c)) / (T)6;
}
static inline T SFX(hardswish_d)(T g, T x, T y, T a) {
    (void)y; (void)a;
    const T s = x < 3 ? x * (T)(1.0 / 3.0) + (T)0.5 : (T)1;
    return x <= -3 ? (T)0 : g * s;
}
static inline T SFX(hardswish_d2)(T g, T t, T x, T y, T a) {
    (void)y; (void)a;
    return ((x > -3) & (x < 3) ? g * t : (T)0) * (T)(1.0 / 3.0);
}

/* logsigmoid: y = -softplus(-x) = min(x, 0) - log1p(e^-|x|); y' = sigmoid(-x);
   y'' = -sigmoid(x) sigmoid(-x) */
static inline T SFX(logsigmoid_f)(T x, T a) {
    (void)a;
    return (x < 0 ? x : (T)0) - M(log1p)(M(exp)(-M(fabs)(x)));
}
static inline T SFX(logsigmoid_d)(T g, T x, T y, T a) {
    (void)y;
    return g * SFX(sigmoid_f)(-x, a);
}
static inline T SFX(logsigmoid_d2)(T g, T t, T x, T y, T a) {
    (void)y;
    return -(g * SFX(sigmoid_f)(x, a) * SFX(sigmoid_f)(-x, a) * t);
}

/* softsign: y = x/(1 + |x|); y' = 1/(1 + |x|)^2; y'' = -2 sign(x)/(1 + |x|)^3 */
static inline T SFX(softsign_f)(T x, T a) { (void)a; return x / ((T)1 + M(fabs)(x)); }
static inline T SFX(softsign_d)(T g, T x, T y, T a) {
    (void)y; (void)a;
    const T u = (T)1 + M(fabs)(x);
    return g / (u * u);
}
static inline T SFX(softsign_d2)(T g, T t, T x, T y, T a) {
    (void)y; (void)a;
    const T u = (T)1 + M(fabs)(x);
    const T s = x > 0 ? (T)-2 : (x < 0 ? (T)2 : (T)0);
    return s * g * t / (u * u * u);
}

/* ---- math ops: binary ----------------------------------------------------------------- */

/* atan2(a, b), r = a^2 + b^2: da = b/r, db = -a/r; d2/da2 = -2ab/r^2,
   d2/dadb = (a^2 - b^2)/r^2, d2/db2 = 2ab/r^2 (NaN at a = b = 0, as PyTorch) */
static inline T SFX(atan2_f)(T p, T q, T a) { (void)a; return M(atan2)(p, q); }
static inline T SFX(atan2_da)(T g, T p, T q, T a) { (void)a; return g * q / (p * p + q * q); }
static inline T SFX(atan2_db)(T g, T p, T q, T a) { (void)a; return -(g * p / (p * p + q * q)); }
static inline void SFX(atan2_soa)(T p, T q, T tp, T tq, int ta, int tb, int gb, T *pa, T *pb) {
    (void)ta; (void)tb; (void)gb;
    const T rr = p * p + q * q, r2 = rr * rr;
    const T daa = -(T)2 * p * q / r2, dab = (p * p - q * q) / r2, dbb = (T)2 * p * q / r2;
    *pa = daa * tp + dab * tq;
    *pb = dab * tp + dbb * tq;
}

/* fmod(a, b) = a - b trunc(a/b), the sign of a: da = 1, db = -trunc(a/b) (PyTorch's) */
static inline T SFX(fmod_f)(T p, T q, T a) { (void)a; return M(fmod)(p, q); }
static inline T SFX(fmod_da)(T g, T p, T q, T a) { (void)p; (void)q; (void)a; return g; }
static inline T SFX(fmod_db)(T g, T p, T q, T a) { (void)a; return -(g * M(trunc)(p / q)); }

/* remainder(a, b) = a - b floor(a/b), the sign of b (Python's %, PyTorch's remainder, from
   fmod as PyTorch computes it): da = 1, db = -floor(a/b) */
static inline T SFX(remainder_f)(T p, T q, T a) {
    (void)a;
    const T r = M(fmod)(p, q);
    return r != 0 && ((r < 0) != (q < 0)) ? r + q : r;
}
static inline T SFX(remainder_da)(T g, T p, T q, T a) { (void)p; (void)q; (void)a; return g; }
static inline T SFX(remainder_db)(T g, T p, T q, T a) {
    (void)a;
    return -(g * M(floor)(p / q));
}
