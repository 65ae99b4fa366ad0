/* canary.c: a deliberate memory bug, compiled in only for the sanitizer canary build.

   Contract: this file is not part of a normal build. csrc/build_ffi.py adds it to the
   sources only when PYAUTOTAPE_CANARY=1, and then links with
   -Wl,--wrap=pat_k_unary_fwd, so every call exec.c makes to the elementwise unary forward
   (pat.exp, pat.relu, ...) lands here first. The wrapper writes one element past the end
   of the output buffer -- the classic off-by-one a kernel could have -- and then runs the
   real kernel. Under AddressSanitizer that write is a heap-buffer-overflow and the process
   stops with a report; scripts/canary.sh builds this and checks that the sanitizer job
   fails, which proves the job is armed. Without a sanitizer the stray byte lands in
   allocator padding or a neighbour, silently: exactly why the job exists. */
#include "pat.h"

#ifdef PAT_CANARY

int __real_pat_k_unary_fwd(int op, int dt, void *y, const void *x, int64_t n, double alpha);
int __wrap_pat_k_unary_fwd(int op, int dt, void *y, const void *x, int64_t n, double alpha);

/* y(n) of dtype dt: writes y[n], one element past the end, then the real kernel. */
int __wrap_pat_k_unary_fwd(int op, int dt, void *y, const void *x, int64_t n, double alpha) {
    if (y != NULL && n > 0) {
        volatile unsigned char *end = (unsigned char *)y + n * (dt == PAT_F64 ? 8 : 4);
        end[0] = 0x5a;
    }
    return __real_pat_k_unary_fwd(op, dt, y, x, n, alpha);
}

#else

/* Without PAT_CANARY this unit is empty on purpose (ISO C wants one declaration). */
typedef int pat_canary_unused;

#endif
