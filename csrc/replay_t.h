/* replay_t.h: the typed helpers of replay.c (zero, accumulate, guard), instantiated for
   float and double (typed.h). */

PAT_SIMD static void SFX(zero)(T *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = 0;
}

PAT_SIMD static void SFX(acc)(T *y, const T *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += x[i];
}

/* 1 when every (a cmp b) over the iteration space equals the recorded outcome */
static int SFX(guard)(const uint8_t *expect, const T *a, const T *b, const pat_iter *it,
                      int64_t cmp) {
    const int64_t inner = walk_inner(it);
    const int64_t se = walk_inner_stride(it, 0), sa = walk_inner_stride(it, 1),
                  sb = walk_inner_stride(it, 2);
    pat_walk w;
    walk_start(&w, it);
    while (walk_next(&w, it))
        for (int64_t i = 0; i < inner; i++) {
            const T u = a[w.off[1] + i * sa], v = b[w.off[2] + i * sb];
            int r;
            switch (cmp) {
            case 0: r = u < v; break;
            case 1: r = u <= v; break;
            case 2: r = u > v; break;
            case 3: r = u >= v; break;
            case 4: r = u == v; break;
            default: r = u != v; break;
            }
            if ((expect[w.off[0] + i * se] != 0) != r) return 0;
        }
    return 1;
}
