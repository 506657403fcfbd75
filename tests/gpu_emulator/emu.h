// CPU emulation of the CUDA built-ins fastct's kernels use (tests only).
//
// Force-included (g++ -include emu.h -DFASTCT_EMULATE) before a kernel file
// compiled as plain C++. A launch runs the blocks one after another; the
// threads of a block are fibers (ucontext) on one OS thread, switched at every
// __syncthreads(), so barriers, shared memory and atomics behave as on a GPU
// without data races of their own. The order in which the fibers run between
// two barriers is forward, reversed or shuffled (a launch argument): a kernel
// that forgets a barrier reads stale shared memory under one of the orders.
// Checked here: every thread of a block reaches the same barriers (a thread
// that returns while others wait at a barrier is an error), FCT_ASSERT, and
// the kernel's parameter types against what Python passes (signature()).
#pragma once

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>

#include <algorithm>
#include <random>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#define FASTCT_EMULATE 1
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __restrict__ __restrict
#define __shared__ static
#define __align__(n) alignas(n)

struct uint3 {
    unsigned int x, y, z;
};
struct dim3 {
    unsigned int x, y, z;
};

namespace fastct_emu {

struct Fiber {
    ucontext_t ctx;
    uint3 tid;
    bool done;
    bool failed;
    int line;      // barrier line the fiber waits at
    long arrivals;  // barriers passed
};

struct State {
    uint3 block{0, 0, 0};
    dim3 bdim{1, 1, 1}, gdim{1, 1, 1};
    Fiber* cur = nullptr;
    ucontext_t sched;
    std::vector<unsigned char> dyn;
    std::string error;
    void (*body)(void*) = nullptr;
    void* body_arg = nullptr;
};

inline State& st() {
    static State s;
    return s;
}

inline const uint3& tid() { return st().cur->tid; }
inline unsigned char* dynamic_shared() { return st().dyn.data(); }

inline void barrier(int line) {
    State& s = st();
    Fiber* f = s.cur;
    f->line = line;
    f->arrivals += 1;
    swapcontext(&f->ctx, &s.sched);
}

inline void fail(const char* file, int line, const char* what) {
    State& s = st();
    char buf[512];
    snprintf(buf, sizeof buf, "%s:%d: assertion failed: %s (block %u,%u,%u thread %u,%u,%u)", file, line, what,
             s.block.x, s.block.y, s.block.z, s.cur->tid.x, s.cur->tid.y, s.cur->tid.z);
    if (s.error.empty()) s.error = buf;
    s.cur->failed = true;
    swapcontext(&s.cur->ctx, &s.sched);  // never resumed
}

inline void trampoline() {
    State& s = st();
    s.body(s.body_arg);
    s.cur->done = true;  // returning follows uc_link back to the scheduler
}

// Type codes of kernel parameters, as Python names them (dtype.kind + itemsize, "P" for pointers).
template <typename T>
const char* scalar_code() {
    using U = typename std::remove_cv<T>::type;
    if (std::is_same<U, unsigned char>::value) return "u1";
    if (std::is_same<U, unsigned short>::value) return "u2";
    if (std::is_same<U, short>::value) return "i2";
    if (std::is_same<U, int>::value) return "i4";
    if (std::is_same<U, unsigned int>::value) return "u4";
    if (std::is_same<U, long long>::value) return "i8";
    if (std::is_same<U, unsigned long long>::value) return "u8";
    if (std::is_same<U, float>::value) return "f4";
    if (std::is_same<U, double>::value) return "f8";
    if (std::is_same<U, bool>::value) return "b1";
    return "??";
}

template <typename A>
std::string code() {
    using U = typename std::remove_cv<A>::type;
    if (std::is_pointer<U>::value) return std::string("P") + scalar_code<typename std::remove_pointer<U>::type>();
    return scalar_code<U>();
}

template <typename... A>
std::string signature(void (*)(A...)) {
    std::string out;
    const std::string parts[] = {std::string(), code<A>()...};
    for (size_t i = 1; i < sizeof...(A) + 1; ++i) {
        if (i > 1) out += ",";
        out += parts[i];
    }
    return out;
}

template <typename... A, size_t... I>
void invoke(void (*k)(A...), void** args, std::index_sequence<I...>) {
    k(*static_cast<typename std::remove_reference<A>::type*>(args[I])...);
}

template <typename... A>
struct Call {
    void (*k)(A...);
    void** args;
    static void run(void* self) {
        Call* c = static_cast<Call*>(self);
        invoke(c->k, c->args, std::index_sequence_for<A...>{});
    }
};

constexpr size_t kStack = 64 * 1024;

// Run kernel k over the grid. Returns 0, or 1 with a message in err.
template <typename... A>
int launch(void (*k)(A...), unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
           size_t smem, void** args, int schedule, char* err, int errlen) {
    State& s = st();
    s.error.clear();
    s.gdim = dim3{gx, gy, gz};
    s.bdim = dim3{bx, by, bz};
    const unsigned nthreads = bx * by * bz;
    if (nthreads == 0 || nthreads > 1024 || gx == 0 || gy == 0 || gz == 0) {
        snprintf(err, errlen, "bad launch geometry grid (%u,%u,%u) block (%u,%u,%u)", gx, gy, gz, bx, by, bz);
        return 1;
    }
    Call<A...> call{k, args};
    s.body = &Call<A...>::run;
    s.body_arg = &call;
    std::vector<Fiber> fibers(nthreads);
    std::vector<char> stacks((size_t)nthreads * kStack);
    std::vector<unsigned> order(nthreads);
    std::mt19937 rng(12345);
    for (unsigned z = 0; z < gz; ++z)
        for (unsigned y = 0; y < gy; ++y)
            for (unsigned x = 0; x < gx; ++x) {
                s.block = uint3{x, y, z};
                s.dyn.assign(smem ? smem : 16, 0xCD);  // garbage, as shared memory is at block start
                for (unsigned t = 0; t < nthreads; ++t) {
                    Fiber& f = fibers[t];
                    f.tid = uint3{t % bx, (t / bx) % by, t / (bx * by)};
                    f.done = f.failed = false;
                    f.line = 0;
                    f.arrivals = 0;
                    getcontext(&f.ctx);
                    f.ctx.uc_stack.ss_sp = stacks.data() + (size_t)t * kStack;
                    f.ctx.uc_stack.ss_size = kStack;
                    f.ctx.uc_link = &s.sched;
                    makecontext(&f.ctx, (void (*)())trampoline, 0);
                    order[t] = t;
                }
                for (;;) {
                    if (schedule == 1) std::reverse(order.begin(), order.end());
                    if (schedule == 2) std::shuffle(order.begin(), order.end(), rng);
                    for (unsigned t : order) {
                        Fiber& f = fibers[t];
                        if (f.done) continue;
                        s.cur = &f;
                        swapcontext(&s.sched, &f.ctx);
                        if (f.failed) {
                            snprintf(err, errlen, "%s", s.error.c_str());
                            return 1;
                        }
                    }
                    // every fiber is now finished or waiting at a barrier
                    int waiting = 0, finished = 0, line = -1;
                    long arrivals = -1;
                    for (Fiber& f : fibers) {
                        if (f.done) {
                            ++finished;
                            continue;
                        }
                        ++waiting;
                        if (line < 0) {
                            line = f.line;
                            arrivals = f.arrivals;
                        } else if (f.line != line || f.arrivals != arrivals) {
                            snprintf(err, errlen,
                                     "block (%u,%u,%u): threads wait at different barriers (lines %d and %d)", x, y, z,
                                     line, f.line);
                            return 1;
                        }
                    }
                    if (waiting == 0) break;
                    if (finished) {
                        snprintf(err, errlen, "block (%u,%u,%u): %d thread(s) returned while %d wait at the barrier "
                                 "of line %d", x, y, z, finished, waiting, line);
                        return 1;
                    }
                }
            }
    return 0;
}

}  // namespace fastct_emu

#define threadIdx (fastct_emu::tid())
#define blockIdx (fastct_emu::st().block)
#define blockDim (fastct_emu::st().bdim)
#define gridDim (fastct_emu::st().gdim)
#define __syncthreads() fastct_emu::barrier(__LINE__)

// Atomics: fibers never interleave inside an operation.
inline unsigned int atomicAdd(unsigned int* p, unsigned int v) {
    unsigned int old = *p;
    *p = old + v;
    return old;
}
inline int atomicAdd(int* p, int v) {
    int old = *p;
    *p = old + v;
    return old;
}
inline unsigned long long atomicAdd(unsigned long long* p, unsigned long long v) {
    unsigned long long old = *p;
    *p = old + v;
    return old;
}
inline int atomicMin(int* p, int v) {
    int old = *p;
    if (v < old) *p = v;
    return old;
}
inline int atomicMax(int* p, int v) {
    int old = *p;
    if (v > old) *p = v;
    return old;
}

// Correctly rounded arithmetic: x86-64 SSE is IEEE single/double; the emulator
// is compiled with -ffp-contract=off so nothing is fused.
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline double __dmul_rn(double a, double b) { return a * b; }
inline double __dadd_rn(double a, double b) { return a + b; }
inline double __dsub_rn(double a, double b) { return a - b; }
inline double __ddiv_rn(double a, double b) { return a / b; }
inline int __float_as_int(float f) {
    int i;
    memcpy(&i, &f, sizeof i);
    return i;
}
inline float __int_as_float(int i) {
    float f;
    memcpy(&f, &i, sizeof f);
    return f;
}
template <typename T>
inline T __ldg(const T* p) {
    return *p;
}
