/* pat_callbacks.h: the Python callbacks of the C core, for cffi's cdef ONLY.

   Never #include this file from C: `extern "Python+C"` is cffi syntax, not C. build_ffi.py
   appends it to the cdef after pat_api.h; cffi then defines pat_custom_callback in _pat.c
   (non-static, so the sweeps in exec.c and sweeps.c can call it), and
   pyautotape/function.py implements it with @ffi.def_extern(). pat.h declares the same
   prototype for the C sources, and because _pat.c includes pat.h before cffi's
   definition, the compiler checks they agree.

   pat_custom_callback(kind, handle, nseeds, dst, s0, s1, s2) runs one rule of a custom op
   (kind: pat_cb_kind) for the Function application `handle` (its record's m), over
   nseeds seeds. It returns PAT_OK, or PAT_ECALLBACK after storing the Python exception,
   which the Python caller of the sweep raises again. */
extern "Python+C" int pat_custom_callback(int kind, int64_t handle, int64_t nseeds, void *dst,
                                          void *s0, void *s1, void *s2);
