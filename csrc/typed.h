/* typed.h: instantiates a typed kernel file twice, for T = float (names suffixed _f32,
   libm's f-functions, TMIN = FLT_MIN) and T = double (_f64, DBL_MIN).

   Usage, in a .c file:   #define PAT_TYPED "eltwise_t.h"
                          #include "typed.h"
   A typed file names its functions SFX(name), its type T and its libm calls M(fn). */
#include <float.h>

#define T float
#define TMIN FLT_MIN
#define SFX(name) name##_f32
#define M(fn) fn##f
#include PAT_TYPED
#undef T
#undef TMIN
#undef SFX
#undef M

#define T double
#define TMIN DBL_MIN
#define SFX(name) name##_f64
#define M(fn) fn
#include PAT_TYPED
#undef T
#undef TMIN
#undef SFX
#undef M

#undef PAT_TYPED
