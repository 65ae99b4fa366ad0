/* dense_t.h: the typed helpers of dense.c (float and double, typed.h): bias rows and
   column sums, and the layout moves that stack K seeds into one GEMM operand. */

/* y(m,n) = b(n) on every row (acc: +=) */
static void SFX(bias_rows)(T *y, const T *b, int64_t m, int64_t n, int acc) {
    for (int64_t r = 0; r < m; r++)
        if (acc) for (int64_t j = 0; j < n; j++) y[r * n + j] += b[j];
        else for (int64_t j = 0; j < n; j++) y[r * n + j] = b[j];
}

/* db(n) += sum over the rows of dy(m,n), accumulated in double: a float32 bias gradient
   over 10^7 rows stays exact to rounding instead of drifting by percents. Each column's
   sum runs over the rows in order (s = 0; s += dy(r, j) for r = 0 .. m-1; db(j) += (T)s),
   16 columns at a time in registers, then one at a time. rowsum_acc_n does it for E pairs
   (db_e, dy_e) in order e = 0 .. E-1 (a db shared by several members receives their sums
   in that order); dense.c's AVX-512 instance (rowsum_n_avx512) computes the same chains
   for four members at once, so either gives these bits. */
static void SFX(rowsum_acc_n)(int64_t E, T *const *db, const T *const *dy, int64_t m,
                              int64_t n) {
    enum { W = 16 };
    for (int64_t e = 0; e < E; e++) {
        const T *y = dy[e];
        T *d = db[e];
        int64_t j = 0;
        for (; j + W <= n; j += W) {
            double a[W];
            _Pragma("GCC unroll 16") for (int c = 0; c < W; c++) a[c] = 0;
            for (int64_t r = 0; r < m; r++) {
                const T *row = y + r * n + j;
                _Pragma("GCC unroll 16") for (int c = 0; c < W; c++) a[c] += (double)row[c];
            }
            _Pragma("GCC unroll 16") for (int c = 0; c < W; c++) d[j + c] += (T)a[c];
        }
        for (; j < n; j++) {
            double a = 0;
            for (int64_t r = 0; r < m; r++) a += (double)y[r * n + j];
            d[j] += (T)a;
        }
    }
}

/* S(K*M, Kd): row j*M + r is row r of op(A_j), op(A_j) = A_j (M, Kd) or A_j^T (A_j (Kd, M)) */
static void SFX(stack_rows)(T *S, const T *A, int64_t sA, int64_t K, int64_t M, int64_t Kd,
                            int ta) {
    for (int64_t j = 0; j < K; j++) {
        const T *Aj = A + j * sA;
        T *Sj = S + j * M * Kd;
        if (ta)
            for (int64_t i = 0; i < Kd; i++)
                for (int64_t r = 0; r < M; r++) Sj[r * Kd + i] = Aj[i * M + r];
        else
            for (int64_t r = 0; r < M * Kd; r++) Sj[r] = Aj[r];
    }
}

/* P(Kd, K*N): columns j*N .. j*N+N-1 are op(B_j), op(B_j) = B_j (Kd, N) or B_j^T (B_j (N, Kd)) */
static void SFX(stack_cols)(T *P, const T *B, int64_t sB, int64_t K, int64_t N, int64_t Kd,
                            int tb) {
    for (int64_t j = 0; j < K; j++) {
        const T *Bj = B + j * sB;
        for (int64_t i = 0; i < Kd; i++)
            for (int64_t c = 0; c < N; c++)
                P[i * K * N + j * N + c] = tb ? Bj[c * Kd + i] : Bj[i * N + c];
    }
}

/* C_j(M,N) += Q[:, j*N .. j*N+N-1] for Q(M, K*N) */
static void SFX(unstack_cols)(T *C, int64_t sC, const T *Q, int64_t K, int64_t M, int64_t N) {
    for (int64_t j = 0; j < K; j++)
        for (int64_t r = 0; r < M; r++)
            for (int64_t c = 0; c < N; c++) C[j * sC + r * N + c] += Q[r * K * N + j * N + c];
}

/* C_j(M,N) += Q[j*M .. j*M+M-1, :] for Q(K*M, N) */
static void SFX(unstack_rows)(T *C, int64_t sC, const T *Q, int64_t K, int64_t M, int64_t N) {
    for (int64_t j = 0; j < K; j++)
        for (int64_t r = 0; r < M * N; r++) C[j * sC + r] += Q[j * M * N + r];
}
