// Point operations: DICOM VOI windowing and RGB(A) -> grey (twin of
// fastct/cpu/intensity.py). Elementwise, 1-D grid-stride loops.
#include "_common.cu"

using fct::i64;

// window: y = (x - shift) / divisor + 0.5 in float64 (the standard's order,
// fastct._shared.intensity.window_terms), clipped to [0, 1]; integer outputs
// get rint(y * maxval).
template <typename T, typename OUT>
__global__ void window(const T* __restrict__ src, OUT* __restrict__ dst, i64 count, double shift, double divisor,
                       double maxval) {
    for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < count; i += (i64)gridDim.x * blockDim.x) {
        double v = fct::add(fct::div(fct::sub((double)src[i], shift), divisor), 0.5);
        v = fct::min2(fct::max2(v, 0.0), 1.0);
        if (maxval > 1.0) v = rint(fct::mul(v, maxval));
        dst[i] = (OUT)v;
    }
}

// gray_fixed: OpenCV's 15-bit rule for 8/16-bit data,
// (R*9798 + G*19235 + B*3735 + 2**14) >> 15 in int64.
template <typename T>
__global__ void gray_fixed(const T* __restrict__ src, T* __restrict__ dst, i64 pixels, int channels, int r, int b,
                           int wr, int wg, int wb, int shift) {
    const i64 half = (i64)1 << (shift - 1);
    for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < pixels; i += (i64)gridDim.x * blockDim.x) {
        const T* px = src + i * channels;
        const i64 v = (i64)px[r] * wr + (i64)px[1] * wg + (i64)px[b] * wb;
        dst[i] = (T)((v + half) >> shift);
    }
}

// gray_float: float32 R*wr + G*wg + B*wb, each product and sum rounded on its own.
__global__ void gray_float(const float* __restrict__ src, float* __restrict__ dst, i64 pixels, int channels, int r,
                           int b, float wr, float wg, float wb) {
    for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < pixels; i += (i64)gridDim.x * blockDim.x) {
        const float* px = src + i * channels;
        dst[i] = fct::add(fct::add(fct::mul(px[r], wr), fct::mul(px[1], wg)), fct::mul(px[b], wb));
    }
}

#if defined(__CUDACC__) && !defined(__CUDACC_RTC__)
extern void* const fastct_intensity_instances[];  // external linkage: no unused warning
void* const fastct_intensity_instances[] = {
    // FASTCT-INSTANTIATIONS-BEGIN
    (void*)&window<unsigned char, float>,
    (void*)&window<unsigned char, unsigned char>,
    (void*)&window<unsigned char, unsigned short>,
    (void*)&window<unsigned short, float>,
    (void*)&window<unsigned short, unsigned char>,
    (void*)&window<unsigned short, unsigned short>,
    (void*)&window<short, float>,
    (void*)&window<short, unsigned char>,
    (void*)&window<short, unsigned short>,
    (void*)&window<float, float>,
    (void*)&window<float, unsigned char>,
    (void*)&window<float, unsigned short>,
    (void*)&gray_fixed<unsigned char>,
    (void*)&gray_fixed<unsigned short>,
    (void*)&gray_fixed<short>,
    (void*)&gray_float,
    // FASTCT-INSTANTIATIONS-END
};
#endif
