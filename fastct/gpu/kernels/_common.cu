// fastct CUDA prelude, shared by every kernel file of fastct/gpu/kernels/.
//
// Kernel files `#include "_common.cu"`. nvcc (ci/test.sh) resolves the include
// beside the file; for NVRTC, fastct.gpu._runtime.kernel_source() inlines this
// text in place of the include line, so CuPy's compile cache key covers it.
// (It has the .cu suffix so it ships as package data with the kernels; on its
// own it compiles to nothing.)
//
// Rules every kernel file keeps, so that nvcc, NVRTC and the CPU emulator of
// the tests (tests/gpu_emulator) accept the same text:
//   - no host headers (NVRTC has none): long long, not int64_t; our constants;
//   - every function is annotated (__global__ or FCT_DEV): CuPy compiles with
//     --device-as-default-execution-space, nvcc -c does not;
//   - arithmetic whose bits must match the CPU backend uses the explicitly
//     rounded intrinsics below (__fmul_rn ...), so no multiply-add is ever
//     contracted into an FMA whatever the -fmad setting (fastct also passes
//     -fmad=false);
//   - every __syncthreads() is reached by all threads of the block (no early
//     return before a barrier); the emulator checks this;
//   - no warp-synchronous code: reductions and scans go through shared memory.
#ifndef FASTCT_COMMON_CU
#define FASTCT_COMMON_CU

#ifdef FASTCT_EMULATE
// tests/gpu_emulator/emu.h is force-included and provides the CUDA built-ins.
#define FCT_DYNAMIC_SHARED(name) unsigned char* name = fastct_emu::dynamic_shared()
#define FCT_ASSERT(cond) ((cond) ? (void)0 : fastct_emu::fail(__FILE__, __LINE__, #cond))
#else
#define FCT_DYNAMIC_SHARED(name) extern __shared__ __align__(16) unsigned char name[]
#define FCT_ASSERT(cond) ((void)0)
#endif

#define FCT_DEV __device__ __forceinline__

//: Largest block fastct launches (static shared arrays are sized by it).
#define FCT_MAX_THREADS 1024

// Stage kinds of a chain (fastct._shared.fusion.STAGE_MIN / STAGE_MAX / STAGE_LINEAR).
#define FCT_STAGE_MIN 0
#define FCT_STAGE_MAX 1
#define FCT_STAGE_LINEAR 2

namespace fct {

typedef long long i64;
typedef unsigned long long u64;

// (enumerators: no "declared but never referenced" warnings where unused)
enum : int { kIntMax = 2147483647, kIntMin = -2147483647 - 1 };
enum : long long { kI64Min = -9223372036854775807LL - 1 };

// Python's min/max: the first argument unless the second is strictly smaller/larger
// (numba's min/max, so ties and signed zeros resolve as on the CPU backend).
template <typename T>
FCT_DEV T min2(T a, T b) { return b < a ? b : a; }
template <typename T>
FCT_DEV T max2(T a, T b) { return b > a ? b : a; }

// Correctly rounded float32/float64 arithmetic that is never fused.
FCT_DEV float mul(float a, float b) { return __fmul_rn(a, b); }
FCT_DEV double mul(double a, double b) { return __dmul_rn(a, b); }
FCT_DEV float add(float a, float b) { return __fadd_rn(a, b); }
FCT_DEV double add(double a, double b) { return __dadd_rn(a, b); }
FCT_DEV float sub(float a, float b) { return __fsub_rn(a, b); }
FCT_DEV double sub(double a, double b) { return __dsub_rn(a, b); }
FCT_DEV float div(float a, float b) { return __fdiv_rn(a, b); }
FCT_DEV double div(double a, double b) { return __ddiv_rn(a, b); }
FCT_DEV float ffloor(float a) { return floorf(a); }
FCT_DEV double ffloor(double a) { return floor(a); }

template <typename T>
struct Traits {
    static constexpr bool integer = true;
};
template <>
struct Traits<float> {
    static constexpr bool integer = false;
};
template <>
struct Traits<double> {
    static constexpr bool integer = false;
};

// Order-preserving int keys of pixel values, for atomicMin/atomicMax of slice ranges.
template <typename T>
struct Key {
    static FCT_DEV int of(T v) { return (int)v; }
    static FCT_DEV T value(int k) { return (T)k; }
};
template <>
struct Key<float> {
    static FCT_DEV int of(float v) {
        int b = __float_as_int(v);
        return b >= 0 ? b : (b ^ 0x7fffffff);
    }
    static FCT_DEV float value(int k) { return __int_as_float(k >= 0 ? k : (k ^ 0x7fffffff)); }
};

// Histogram arithmetic type of a pixel: int64 for integers, float32 for floats
// (fastct.cpu.histogram._as_type).
template <typename T>
struct BinType {
    typedef i64 type;
};
template <>
struct BinType<float> {
    typedef float type;
};

// Python floor division of int64 (numba's //).
FCT_DEV i64 floordiv(i64 a, i64 b) {
    i64 q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
    return q;
}

// float32 -> int64 as numba compiles it on x86-64 (cvttss2si): truncation,
// and INT64_MIN for NaN and values outside the int64 range.
FCT_DEV i64 f2ll_x86(float f) {
    if (f >= -9223372036854775808.0f && f < 9223372036854775808.0f) return (i64)f;
    return kI64Min;
}

// fastct._shared.histogram bin rule (fastct.cpu.histogram.bin_index).
FCT_DEV i64 bin_of(i64 v, i64 lo, i64 hi, int nbins, i64 nb) {
    i64 d = v - lo;
    i64 b = nbins == 0 ? d : floordiv(d * (i64)nbins, hi - lo + 1);
    return min2(max2(b, (i64)0), nb - 1);
}
FCT_DEV i64 bin_of(float v, float lo, float hi, int nbins, i64 nb) {
    float span = sub(hi, lo);
    if (span <= 0.0f) return 0;
    float scale = div((float)nb, span);
    i64 b = f2ll_x86(mul(sub(v, lo), scale));
    return min2(max2(b, (i64)0), nb - 1);
}

// A cumulative count on the output scale (fastct.cpu.histogram._lut_value).
FCT_DEV float lut_value(i64 count, i64 total, float maxval) {
    if (maxval == 1.0f) return div((float)count, (float)total);
    float scale = div(maxval, (float)total);
    return min2(rintf(mul((float)count, scale)), maxval);
}

// x + amount * d with the CPU backend's rounding (fastct.cpu._jit.add_scaled).
FCT_DEV i64 add_scaled_int(i64 x, i64 d, float amount, i64 lo, i64 hi) {
    if (d == 0) return min2(max2(x, lo), hi);
    float step = rintf(mul(amount, (float)d));
    step = min2(max2(step, -4294967296.0f), 4294967296.0f);
    i64 v = x + (i64)step;
    return min2(max2(v, lo), hi);
}
FCT_DEV float add_scaled_float(float x, float d, float amount) { return add(x, mul(amount, d)); }

struct MinOp {
    template <typename V>
    FCT_DEV V operator()(V a, V b) const { return min2(a, b); }
};
struct MaxOp {
    template <typename V>
    FCT_DEV V operator()(V a, V b) const { return max2(a, b); }
};
struct SumOp {
    template <typename V>
    FCT_DEV V operator()(V a, V b) const { return a + b; }
};

// Flat index of the thread in its block, and the block's thread count (any shape).
FCT_DEV int block_rank() { return (int)(threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z)); }
FCT_DEV int block_size() { return (int)(blockDim.x * blockDim.y * blockDim.z); }

// Block-wide reduction through `red` (one entry per thread of shared memory),
// any block shape. Every thread of the block must call it; all get the result.
template <typename V, typename Op>
FCT_DEV V block_reduce(V* red, V v, Op op) {
    const int tid = block_rank(), nt = block_size();
    red[tid] = v;
    __syncthreads();
    for (int stride = 1; stride < nt; stride <<= 1) {
        if ((tid & (2 * stride - 1)) == 0 && tid + stride < nt) red[tid] = op(red[tid], red[tid + stride]);
        __syncthreads();
    }
    V r = red[0];
    __syncthreads();
    return r;
}

// Exclusive prefix sums of `part` (one entry per thread of shared memory) in place.
FCT_DEV void block_exclusive_scan(i64* part) {
    __syncthreads();
    if (block_rank() == 0) {
        i64 run = 0;
        for (int t = 0; t < block_size(); ++t) {
            i64 v = part[t];
            part[t] = run;
            run += v;
        }
    }
    __syncthreads();
}

}  // namespace fct

#endif  // FASTCT_COMMON_CU
