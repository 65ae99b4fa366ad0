/* pat_api.h: the whole C ABI of pyautotape.

   One text for two compilers: the C sources include it after <stdint.h> (through pat.h),
   and csrc/build_ffi.py runs it through the C preprocessor and feeds the result to
   ffi.cdef(), so they cannot drift. The preprocessor is used for one thing only: the op
   enum is expanded from csrc/ops.def, the single list of ops. No system header is
   included here, and structs and enums are declared exactly (no "..."), so cffi checks
   their layout against the C compiler at build time.

   Contract for every function here:
   - Python owns all memory. C reads and writes only the buffers it is given, for the length
     of the call, and keeps no pointer afterwards. C never allocates, prints or aborts.
   - Every function returns a pat_status; PAT_OK is 0, errors are negative.
   - Arrays are C-contiguous and of the dtype named by the `dtype` argument, except where a
     pat_iter gives explicit element strides. Python validates shapes and dtypes first; the
     checks in C are a second line of defence that turns a Python bug into an error code.
   - Backward kernels accumulate (dx += ...). A NULL gradient pointer means "not needed" and
     the partial is skipped, which is how reverse mode computes only what was asked for. */

/* Every status any function returns. Python maps each one to an exception (_ffi.py). */
typedef enum {
    PAT_OK = 0,
    PAT_EBADOP = -1,      /* opcode out of range, or not valid in this call */
    PAT_EBADDTYPE = -2,   /* dtype is neither PAT_F32 nor PAT_F64 */
    PAT_ENULL = -3,       /* a buffer the op needs was not supplied */
    PAT_EBADARG = -4,     /* a size, slot or label out of range */
    PAT_EINDEX = -5,      /* a class label or an index offset out of range */
    PAT_EGUARD = -6,      /* a replay guard failed: the step must be recorded again */
    PAT_ECALLBACK = -7,   /* a custom op's Python callback raised; Python holds the error */
    PAT_EANOMALY = -8,    /* a checked sweep found a non-finite value: see pat_anomaly */
    PAT_ETOOBIG = -9      /* a GEMM size or leading dimension exceeds INT_MAX (32-bit BLAS) */
} pat_status;

enum { PAT_ABI_VERSION = 3 };  /* pat_abi_version() returns it */

typedef enum {
    PAT_F32 = 0,
    PAT_F64 = 1
} pat_dtype;

/* The ops, in the order of csrc/ops.def (see there for what each row says). Shapes: y
   is the output, x/a/b the inputs; m, k, n and alpha are per op:
     binary ops     it: [y, a, b] broadcast; maximum/minimum: a tie gives alpha to a
     where          y = c ? a : b, it: [y, c, a, b]; c is uint8
     unary ops      n elements; relu's subgradient at 0 and leaky_relu's slope are alpha
     sum, mean      y[o] += alpha * x[i], it over x: [y (0 on reduced axes), x]; m = numel(y)
     max            as sum; aux = tie count per output
     reshape        y = x, n elements
     transpose, index   y[o] = x[m + off], it over y: [y, x strides]
     concatenate    y(m, k+n) = [a(m, k) | b(m, n)] per outer row
     matmul         y(m,n) = a(m,k) @ b(k,n) per batch; it over the batch: [y, a, b]
     linear         y(m,n) = x(m,k) @ w(n,k)^T + b(n); source 2 NULL: no bias
     softmax, log_softmax   over the middle axis of x(m, k, n)
     cross_entropy  y = nll(log_softmax(x(m,k)), labels(m) int64); aux = probs(m,k);
                    n: 0 none -> y(m), 1 mean -> y(), 2 sum -> y()
     mse_loss       y = (a - b)^2 over n elements; aux = a - b; k: the reduction as above
     custom         a pat.Function of up to 3 sources; m = its handle; every rule calls
                    back into Python (pat_custom_callback)
     stacked_linear y(E,m,n) = x_e(m,k) @ w_e(n,k)^T + b_e(n) for e < E (E models' linear
                    layers, one GEMM each); it over the members: [y, x (0: shared), w, b]
     cast           y = x rounded to the instruction's dtype, n elements; m = x's pat_dtype
                    (the source's tangent and adjoint have that dtype too) */
typedef enum {
#define PAT_OP(NAME, name, READS) PAT_OP_##NAME,
#include "ops.def"
    PAT_OP_COUNT
} pat_op;

/* What an op's reverse rule reads (its READS in ops.def), as pat_op_reads returns it:
   the record keeps exactly these arrays. */
typedef enum {
    PAT_READS_S0 = 1,         /* the value of source 0 */
    PAT_READS_S1 = 2,         /* the value of source 1 */
    PAT_READS_OUT = 4,        /* the output value */
    PAT_READS_CROSS = 8,      /* source 0 when source 1 needs a gradient, and the converse */
    PAT_READS_OUT_OR_S0 = 16  /* the output when alpha == 0, else source 0 */
} pat_reads;

typedef enum {
    PAT_MAXDIM = 8,      /* axes of a pat_iter */
    PAT_MAXOPERANDS = 4  /* operands of a pat_iter */
} pat_limits;

/* An iteration space with explicit element strides for up to four operands: operand 0 is
   the one written (or the output the loop is laid over), 1..3 are read. A stride of 0
   broadcasts (when reading) or reduces (when accumulating). Python builds these as int64
   arrays of 1 + 8 + 4*8 numbers, with adjacent axes merged where the strides allow. */
typedef struct {
    int64_t ndim;
    int64_t shape[8];
    int64_t stride[4][8];
} pat_iter;

/* One record of the tape: 64 bytes, mirrored by a NumPy structured dtype in Python
   (checked at import against ffi.offsetof). Slots index the vals/grads pointer tables. */
typedef struct {
    int32_t op;          /* pat_op */
    int32_t dtype;       /* pat_dtype */
    int32_t dst;         /* slot written */
    int32_t src[3];      /* slots read, -1 when unused */
    int32_t aux;         /* slot of an extra saved array (tie counts, probs, labels), -1 */
    int32_t iter;        /* index into the pat_iter table, -1 */
    int64_t m, k, n;     /* sizes, meaning per op (see pat_op) */
    double alpha;        /* scalar parameter (subgradient, slope, scale) */
} pat_instr;

/* Counters a sweep adds to when given a non-NULL pointer (no static state in C). */
typedef struct {
    int64_t gemm_calls;
    int64_t gemm_flops;
    int64_t instrs;
} pat_stats;

int pat_abi_version(void);
const char *pat_op_name(int op);   /* "?" out of range */
int pat_op_reads(int op);           /* pat_reads bits; -1 out of range */
const char *pat_build_info(void);   /* "sources=<sha256 of csrc>;flags=<cflags>" */
const char *pat_blas_config(void);
int pat_blas_get_num_threads(void);
void pat_blas_set_num_threads(int n);

/* Forward of one op: y (and aux, for ops that produce one) from the sources. */
int pat_exec_fwd(int op, int dtype, void *y, void *aux,
                 const void *s0, const void *s1, const void *s2,
                 const pat_iter *it, int64_t m, int64_t k, int64_t n, double alpha,
                 pat_stats *stats);

/* Backward of one op: g0, g1, g2 += partials of the sources, given dy. y, s0..s2 and aux
   are the values the rule reads (NULL when the recording did not keep them). */
int pat_exec_bwd(int op, int dtype, const void *dy, const void *y, const void *aux,
                 const void *s0, const void *s1, const void *s2,
                 void *g0, void *g1, void *g2,
                 const pat_iter *it, int64_t m, int64_t k, int64_t n, double alpha,
                 pat_stats *stats);

/* The reverse sweep: for t = ntape-1 .. 0, run the backward of tape[t] reading vals[] and
   accumulating into grads[] (both nslots long; iters is niters long). An instruction whose
   grads[dst] is NULL is skipped. On error, *failed is the index of the failing record. */
int pat_tape_backward(const pat_instr *tape, int64_t ntape, const pat_iter *iters,
                      int64_t niters, void *const *vals, void *const *grads, int64_t nslots,
                      pat_stats *stats, int64_t *failed);

/* ---- optimizers (optim.c) --------------------------------------------------------------
   One call updates every parameter of a group in place: params, grads and the state
   buffers are tables of nparams pointers to C-contiguous arrays of `dtype`, sizes[i]
   elements each. A NULL grads[i] skips parameter i (its counter too). Arithmetic and order
   of operations are PyTorch's single-tensor path, so trajectories match torch.optim, except
   that state values below the dtype's smallest normal number are stored as 0. */

/* Bits of the `flags` argument of every optimizer step (unused bits are ignored). */
enum {
    PAT_OPT_NESTEROV = 1,   /* SGD: Nesterov momentum */
    PAT_OPT_DECOUPLED = 1,  /* Adam, NAdam, RAdam: decoupled weight decay (AdamW's) */
    PAT_OPT_MAXIMIZE = 2,   /* every optimizer: ascend, i.e. use -grad */
    PAT_OPT_AMSGRAD = 4,    /* Adam: divide by the running maximum of exp_avg_sq */
    PAT_OPT_CENTERED = 8    /* RMSprop: centred second moment */
};

/* The optimizer kernels pat_replay can run, the `kind` of a pat_optcall. */
typedef enum {
    PAT_OPTIM_SGD,
    PAT_OPTIM_ADAM,
    PAT_OPTIM_RMSPROP,
    PAT_OPTIM_ADAGRAD,
    PAT_OPTIM_ADADELTA,
    PAT_OPTIM_ADAMAX,
    PAT_OPTIM_NADAM,
    PAT_OPTIM_RADAM,
    PAT_OPTIM_COUNT
} pat_optim_kind;

/* In all steps below g is the gradient, negated first under PAT_OPT_MAXIMIZE, then
   g' = g + weight_decay * p unless the decay is decoupled; `counts`/`steps` are int64
   counters updated for each parameter with a gradient. */

/* SGD: p(sizes[i]) -= lr * d, with, when momentum != 0,
   bufs[i] = counts[i] == 0 ? g' : momentum * bufs[i] + (1 - dampening) * g', then
   d = nesterov ? g' + momentum * bufs[i] : bufs[i], and counts[i] += 1 (counts[i] is the
   number of updates folded into bufs[i]; bufs may be NULL when momentum == 0). */
int pat_sgd_step(int dtype, int64_t nparams, void *const *params, const void *const *grads,
                 void *const *bufs, const int64_t *sizes, int64_t *counts, double lr,
                 double momentum, double dampening, double weight_decay, int flags);

/* Adam and AdamW (PAT_OPT_DECOUPLED): steps[i] += 1, then with t = steps[i]
   p(sizes[i]) is updated from exp_avgs[i] and exp_avg_sqs[i] (both sizes[i], updated in
   place) with bias corrections 1 - beta1^t and sqrt(1 - beta2^t); eps is added after the
   division by the latter. AdamW first scales p by 1 - lr * weight_decay. Under
   PAT_OPT_AMSGRAD max_exp_avg_sqs[i] = max(max_exp_avg_sqs[i], exp_avg_sqs[i]) replaces
   exp_avg_sqs[i] in the denominator (max_exp_avg_sqs may be NULL otherwise). */
int pat_adam_step(int dtype, int64_t nparams, void *const *params, const void *const *grads,
                  void *const *exp_avgs, void *const *exp_avg_sqs,
                  void *const *max_exp_avg_sqs, const int64_t *sizes, int64_t *steps,
                  double lr, double beta1, double beta2, double eps, double weight_decay,
                  int flags);

/* RMSprop: v = alpha v + (1 - alpha) g'^2; centred (PAT_OPT_CENTERED): a = lerp(a, g',
   1 - alpha), avg = sqrt(v - a^2) + eps, else avg = sqrt(v) + eps; with momentum != 0
   b = momentum b + g' / avg, p -= lr b, else p -= lr g' / avg. square_avgs required;
   momentum_bufs when momentum != 0; grad_avgs when centred. steps[i] += 1. */
int pat_rmsprop_step(int dtype, int64_t nparams, void *const *params,
                     const void *const *grads, void *const *square_avgs,
                     void *const *momentum_bufs, void *const *grad_avgs, const int64_t *sizes,
                     int64_t *steps, double lr, double alpha, double eps, double weight_decay,
                     double momentum, int flags);

/* Adagrad: t = ++steps[i]; clr = lr / (1 + (t - 1) lr_decay); s += g'^2;
   p -= clr g' / (sqrt(s) + eps). */
int pat_adagrad_step(int dtype, int64_t nparams, void *const *params,
                     const void *const *grads, void *const *sums, const int64_t *sizes,
                     int64_t *steps, double lr, double lr_decay, double weight_decay,
                     double eps, int flags);

/* Adadelta: v = rho v + (1 - rho) g'^2; d = sqrt(u + eps) / sqrt(v + eps) g';
   u = rho u + (1 - rho) d^2; p -= lr d (v: square_avgs, u: acc_deltas). steps[i] += 1. */
int pat_adadelta_step(int dtype, int64_t nparams, void *const *params,
                      const void *const *grads, void *const *square_avgs,
                      void *const *acc_deltas, const int64_t *sizes, int64_t *steps,
                      double lr, double rho, double eps, double weight_decay, int flags);

/* Adamax: t = ++steps[i]; m = lerp(m, g', 1 - beta1); u = max(beta2 u, |g'| + eps);
   p -= lr / (1 - beta1^t) m / u (m: exp_avgs, u: exp_infs). */
int pat_adamax_step(int dtype, int64_t nparams, void *const *params, const void *const *grads,
                    void *const *exp_avgs, void *const *exp_infs, const int64_t *sizes,
                    int64_t *steps, double lr, double beta1, double beta2, double eps,
                    double weight_decay, int flags);

/* NAdam: t = ++steps[i]; mu_t = beta1 (1 - 0.5 * 0.96^(t psi)) (psi: momentum_decay);
   mu_products[i] (points to one double per parameter) *= mu_t; m, v as Adam;
   denom = sqrt(v / (1 - beta2^t)) + eps;
   p -= lr (1 - mu_t) / (1 - prod) g' / denom + lr mu_{t+1} / (1 - prod mu_{t+1}) m / denom.
   PAT_OPT_DECOUPLED: p *= 1 - lr weight_decay first instead of the L2 term. */
int pat_nadam_step(int dtype, int64_t nparams, void *const *params, const void *const *grads,
                   void *const *exp_avgs, void *const *exp_avg_sqs, void *const *mu_products,
                   const int64_t *sizes, int64_t *steps, double lr, double beta1,
                   double beta2, double eps, double weight_decay, double momentum_decay,
                   int flags);

/* RAdam: t = ++steps[i]; m, v as Adam; rho_inf = 2 / (1 - beta2) - 1,
   rho_t = rho_inf - 2 t beta2^t / (1 - beta2^t); when rho_t > 5
   p -= m / (1 - beta1^t) lr sqrt(1 - beta2^t) / (sqrt(v) + eps) r_t with the rectification
   r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t)), else
   p -= m / (1 - beta1^t) lr. PAT_OPT_DECOUPLED as NAdam. */
int pat_radam_step(int dtype, int64_t nparams, void *const *params, const void *const *grads,
                   void *const *exp_avgs, void *const *exp_avg_sqs, const int64_t *sizes,
                   int64_t *steps, double lr, double beta1, double beta2, double eps,
                   double weight_decay, int flags);

/* ---- replay (replay.c) ----------------------------------------------------------------
   A recorded training step packed once into a program of steps over a table of buffers
   (bufs, nbufs long), run again for new inputs in one call. Forward steps run the same
   pat_exec_fwd as eager mode, sweeps the same pat_tape_backward, optimizer steps the same
   optimizer kernels (pat_optcall.kind), in the recorded order, so replay and eager agree bitwise. */

typedef enum {
    PAT_STEP_FWD,      /* run instrs[a] forward; its slots index bufs                      */
    PAT_STEP_ZERO,     /* bufs[a](n) = 0                                                   */
    PAT_STEP_ACC,      /* bufs[a](n) += bufs[b](n)                                         */
    PAT_STEP_GUARD,    /* (bufs[a] cmp_n bufs[b]) == bufs[c] (uint8) over iters[d], operands
                          [c, a, b]; n: 0 <, 1 <=, 2 >, 3 >=, 4 ==, 5 !=; else PAT_EGUARD    */
    PAT_STEP_OPTIM,    /* run opts[a], an optimizer update                                 */
    PAT_STEP_BWD,      /* run the backward of sweeps[a].tape[b] alone (a planned sweep,
                          whose adjoint buffers are zeroed just before their first use)    */
    PAT_STEP_SGD_GEMM, /* fuse_update: the weight of linear record sweeps[a].tape[b] is
                          parameter d of opts[c], a plain SGD call (no momentum, weight decay
                          or maximize) that skips it: W(n,k) += -lr dy(m,n)^T x(m,k) in one
                          GEMM, lr = opts[c].hyper[0], instead of dW then the update        */
    PAT_STEP_COUNT
} pat_step_kind;

typedef struct {
    int32_t kind;        /* pat_step_kind */
    int32_t dtype;       /* pat_dtype of the buffers the step touches */
    int32_t a, b, c, d;  /* buffer slots / table indices, per kind */
    int64_t n;           /* element count, or the comparison of a guard */
} pat_step;

typedef struct {
    const pat_instr *tape;
    int64_t ntape;
    const pat_iter *iters;
    int64_t niters;
    void *const *vals;
    void *const *grads;
    int64_t nslots;
} pat_sweep;

typedef struct {
    int32_t kind;        /* pat_optim_kind: which pat_*_step runs */
    int32_t dtype;
    int64_t nparams;
    void *const *params;
    const void *const *grads;
    void *const *bufs[3]; /* the kernel's state tables in its argument order (NULL: none) */
    const int64_t *sizes;
    int64_t *counts;
    double hyper[6];     /* the kernel's double arguments in order (lr first) */
    int32_t flag;        /* the kernel's flags (PAT_OPT_*) */
    int32_t pad_;
} pat_optcall;

int pat_replay(const pat_step *steps, int64_t nsteps, const pat_instr *instrs,
               int64_t ninstrs, const pat_iter *iters, int64_t niters, void *const *bufs,
               int64_t nbufs, const pat_sweep *sweeps, int64_t nsweeps,
               const pat_optcall *opts, int64_t nopts, pat_stats *stats, int64_t *failed);

/* ---- forward mode, batched reverse mode, second-order adjoints (sweeps.c) -------------
   These sweeps push nseeds directions through a tape in one call. In tans, grads and
   atans the buffer of slot s holds nseeds copies of the slot's value one after another,
   sizes[s] elements each: an array of shape (nseeds, *value shape). A NULL tangent is
   identically zero; a NULL gradient is not needed. vals (and adjs) are one-seed tables
   laid out as pat_tape_backward's. Dense ops push all seeds through one GEMM, permuting a
   seed-dependent operand into `scratch` (nscratch bytes, 8-byte aligned) when its layout
   does not stack. Call a sweep first with need != NULL: it then computes nothing and sets
   *need to the scratch bytes it will use; allocate those and call it with need == NULL.
   On error, *failed is the index of the failing record. */

typedef enum {
    PAT_CB_FWD,   /* dst = y (written), s0..s2 = source values                        */
    PAT_CB_BWD,   /* dst = dy (nseeds), s0..s2 += source gradients (nseeds; NULL: skip) */
    PAT_CB_TAN,   /* dst += ty (nseeds), s0..s2 = source tangents (nseeds; NULL: zero)  */
    PAT_CB_SOA    /* dst = adjoint of y (one seed), s0..s2 += second-order terms of the
                     source adjoints (nseeds) for the tangents of the last tangent sweep */
} pat_cb_kind;

/* Forward mode: for t = 0 .. ntape-1, tans[dst] += J tans[src] for every seed (tans[dst]
   zeroed by the caller). A record whose tans[dst] is NULL is skipped. Reads vals, the
   values the reverse sweep reads, and never an adjoint. */
int pat_tape_tangent(const pat_instr *tape, int64_t ntape, const pat_iter *iters,
                     int64_t niters, void *const *vals, void *const *tans,
                     const int64_t *sizes, int64_t nslots, int64_t nseeds, void *scratch,
                     int64_t nscratch, int64_t *need, pat_stats *stats, int64_t *failed);

/* Reverse mode for nseeds cotangents: for t = ntape-1 .. 0, grads[src] += J^T grads[dst]
   per seed. A record whose grads[dst] is NULL is skipped. */
int pat_tape_backward_batch(const pat_instr *tape, int64_t ntape, const pat_iter *iters,
                            int64_t niters, void *const *vals, void *const *grads,
                            const int64_t *sizes, int64_t nslots, int64_t nseeds,
                            void *scratch, int64_t nscratch, int64_t *need, pat_stats *stats,
                            int64_t *failed);

/* Second-order adjoints (forward-over-reverse): with tans from pat_tape_tangent (nseeds
   directions u) and adjs from a one-seed reverse sweep, for t = ntape-1 .. 0:
   atans[src] += J^T atans[dst] + (dJ[tans])^T adjs[dst]. Seeding atans of the output with
   zeros, atans of an input ends as the Hessian-vector products H u. */
int pat_tape_hvp(const pat_instr *tape, int64_t ntape, const pat_iter *iters, int64_t niters,
                 void *const *vals, void *const *tans, void *const *adjs, void *const *atans,
                 const int64_t *sizes, int64_t nslots, int64_t nseeds, void *scratch,
                 int64_t nscratch, int64_t *need, pat_stats *stats, int64_t *failed);

/* ---- NaN/Inf detection (pat.detect_anomaly; check.c, sweeps.c, replay.c) ----------------
   The *_checked sweeps run exactly what their unchecked twins run and, after each record,
   scan the buffers the rule just wrote for a NaN or an infinity (the output y of a forward
   step, tans[dst] of a tangent rule, the source gradients a backward or second-order rule
   accumulated into). At the first one they stop with PAT_EANOMALY, set *failed as for an
   error, and describe it in *anomaly: where it is, and which input of the rule (if any)
   was already non-finite when the rule read it; an input found there means the rule only
   passed the NaN/Inf along. sizes[s] is the element count of slot s (one seed; its value
   and gradient have the same size). The unchecked sweeps never scan anything. */

typedef enum {
    PAT_PASS_FWD,        /* forward: the op's output */
    PAT_PASS_BWD,        /* reverse: the gradient of a source */
    PAT_PASS_TAN,        /* forward mode: the output's tangent */
    PAT_PASS_HVP         /* second-order adjoints: the adjoint tangent of a source */
} pat_pass;

typedef enum {
    PAT_CAUSE_OP,        /* no input of the rule was non-finite: the rule produced it */
    PAT_CAUSE_SRC0,      /* the value of source 0 (1, 2) was already non-finite */
    PAT_CAUSE_SRC1,
    PAT_CAUSE_SRC2,
    PAT_CAUSE_OUT,       /* the op's output value, read by its backward / tangent rule */
    PAT_CAUSE_AUX,       /* the op's aux array (probabilities, tie counts, a - b) */
    PAT_CAUSE_DY,        /* the incoming adjoint of y (hvp: the adjoint's tangent) */
    PAT_CAUSE_T0,        /* the tangent of source 0 (1, 2) */
    PAT_CAUSE_T1,
    PAT_CAUSE_T2,
    PAT_CAUSE_ADJ,       /* hvp: the first-order adjoint of y */
    PAT_CAUSE_TY         /* hvp: the tangent of y */
} pat_cause;

typedef struct {
    int64_t record;      /* the record: its index in the tape (replay: in instrs for a
                            forward step, in its sweep's tape for a backward step) */
    int64_t sweep;       /* replay: the sweep of a backward step; -1 otherwise */
    int64_t seed;        /* batched sweeps: the seed holding the value; else 0 */
    int64_t index;       /* flat index of the first non-finite element within its seed */
    int64_t cause_seed;  /* where the non-finite input was (cause != PAT_CAUSE_OP) */
    int64_t cause_index;
    double value;        /* the non-finite element */
    double cause_value;
    int32_t pass_;       /* pat_pass */
    int32_t buffer;      /* -1: the output (or its tangent); 0..2: the gradient of source i */
    int32_t cause;       /* pat_cause */
    int32_t pad_;
} pat_anomaly;

/* The first non-finite element of x(n): *index = its index, *value = it; *index = -1 when
   all are finite. Vectorised scan, a second look only inside a block that has one. */
int pat_find_nonfinite(int dtype, const void *x, int64_t n, int64_t *index, double *value);

/* The check of one forward instruction after it ran: bufs[dst] (sizes[dst]) and, when it
   holds a non-finite value, the float sources that were already non-finite. */
int pat_check_fwd(const pat_instr *ins, int64_t record, void *const *bufs,
                  const int64_t *sizes, int64_t nbufs, pat_anomaly *anomaly);

int pat_tape_backward_checked(const pat_instr *tape, int64_t ntape, const pat_iter *iters,
                              int64_t niters, void *const *vals, void *const *grads,
                              const int64_t *sizes, int64_t nslots, pat_stats *stats,
                              int64_t *failed, pat_anomaly *anomaly);

int pat_tape_tangent_checked(const pat_instr *tape, int64_t ntape, const pat_iter *iters,
                             int64_t niters, void *const *vals, void *const *tans,
                             const int64_t *sizes, int64_t nslots, int64_t nseeds,
                             void *scratch, int64_t nscratch, int64_t *need, pat_stats *stats,
                             int64_t *failed, pat_anomaly *anomaly);

int pat_tape_backward_batch_checked(const pat_instr *tape, int64_t ntape,
                                    const pat_iter *iters, int64_t niters, void *const *vals,
                                    void *const *grads, const int64_t *sizes, int64_t nslots,
                                    int64_t nseeds, void *scratch, int64_t nscratch,
                                    int64_t *need, pat_stats *stats, int64_t *failed,
                                    pat_anomaly *anomaly);

int pat_tape_hvp_checked(const pat_instr *tape, int64_t ntape, const pat_iter *iters,
                         int64_t niters, void *const *vals, void *const *tans,
                         void *const *adjs, void *const *atans, const int64_t *sizes,
                         int64_t nslots, int64_t nseeds, void *scratch, int64_t nscratch,
                         int64_t *need, pat_stats *stats, int64_t *failed,
                         pat_anomaly *anomaly);

/* pat_replay with the checks: buf_sizes[b] is the element count of bufs[b] (forward
   steps), sweep_sizes[w] the sizes table of sweeps[w] (backward steps). */
int pat_replay_checked(const pat_step *steps, int64_t nsteps, const pat_instr *instrs,
                       int64_t ninstrs, const pat_iter *iters, int64_t niters,
                       void *const *bufs, int64_t nbufs, const pat_sweep *sweeps,
                       int64_t nsweeps, const pat_optcall *opts, int64_t nopts,
                       const int64_t *buf_sizes, const int64_t *const *sweep_sizes,
                       pat_stats *stats, int64_t *failed, pat_anomaly *anomaly);
