// Histogram kernels: slice ranges, shared-memory histograms, equalisation
// look-up tables, CLAHE (tile histograms, clipping, redistribution, bilinear
// interpolation), all on the device. Twin of fastct/cpu/histogram.py; bin and
// output rules of fastct._shared.histogram.
//
// Slice ranges travel as order-preserving int keys (fct::Key) so blocks can
// combine them with atomicMin / atomicMax. Histograms count into shared memory
// when the slice's bin count fits `shared_bins` (one bin per value of a CT
// slice, ~4096 bins, always does), else straight into global memory.
#include "_common.cu"

using fct::i64;
using fct::u64;

// slice_stats: min/max keys and the number of counted pixels of each slice.
// Grid (blocks, slices). keys_lo / keys_hi / counts start at INT_MAX / INT_MIN / 0.
// mask (uint8, nonzero = counted) is read only when has_mask; mask_stride is 0
// for one mask shared by all slices, else the slice size.
template <typename T>
__global__ void slice_stats(const T* __restrict__ src, i64 plane, const unsigned char* __restrict__ mask,
                            i64 mask_stride, int has_mask, int* __restrict__ keys_lo, int* __restrict__ keys_hi,
                            u64* __restrict__ counts) {
    __shared__ int red[FCT_MAX_THREADS];
    __shared__ u64 red_count[FCT_MAX_THREADS];
    const int n = blockIdx.y;
    const T* img = src + n * plane;
    const unsigned char* m = mask + n * mask_stride;
    int lo = fct::kIntMax, hi = fct::kIntMin;
    u64 count = 0;
    for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < plane; i += (i64)gridDim.x * blockDim.x) {
        if (has_mask && m[i] == 0) continue;
        const int k = fct::Key<T>::of(img[i]);
        lo = fct::min2(lo, k);
        hi = fct::max2(hi, k);
        ++count;
    }
    lo = fct::block_reduce(red, lo, fct::MinOp());
    hi = fct::block_reduce(red, hi, fct::MaxOp());
    count = fct::block_reduce(red_count, count, fct::SumOp());
    if (threadIdx.x == 0 && count > 0) {
        atomicMin(keys_lo + n, lo);
        atomicMax(keys_hi + n, hi);
        atomicAdd(counts + n, count);
    }
}

// Number of bins of slice n: nbins, or one per integer value of its range.
template <typename T>
FCT_DEV i64 slice_bins(int nbins, typename fct::BinType<T>::type lo, typename fct::BinType<T>::type hi) {
    if (nbins > 0) return nbins;
    return (i64)hi - (i64)lo + 1;
}

// hist_clear: zero the bins [0, nb) of each slice's histogram row. Grid (slices,).
template <typename T>
__global__ void hist_clear(unsigned int* __restrict__ hist, int stride, const int* __restrict__ keys_lo,
                           const int* __restrict__ keys_hi, int nbins) {
    typedef typename fct::BinType<T>::type B;
    const int n = blockIdx.x;
    const B lo = (B)fct::Key<T>::value(keys_lo[n]);
    const B hi = (B)fct::Key<T>::value(keys_hi[n]);
    const i64 nb = slice_bins<T>(nbins, lo, hi);
    FCT_ASSERT(nb <= stride);
    for (i64 b = threadIdx.x; b < nb; b += blockDim.x) hist[(i64)n * stride + b] = 0u;
}

// histogram: counts of the (masked) pixels of each slice over [lo, hi] (keys).
// Grid (blocks, slices); dynamic shared memory: shared_bins * 4 bytes.
template <typename T>
__global__ void histogram(const T* __restrict__ src, i64 plane, const unsigned char* __restrict__ mask,
                          i64 mask_stride, int has_mask, const int* __restrict__ keys_lo,
                          const int* __restrict__ keys_hi, int nbins, unsigned int* __restrict__ hist, int stride,
                          int shared_bins) {
    typedef typename fct::BinType<T>::type B;
    FCT_DYNAMIC_SHARED(smem);
    unsigned int* sh = reinterpret_cast<unsigned int*>(smem);
    const int n = blockIdx.y;
    const T* img = src + n * plane;
    const unsigned char* m = mask + n * mask_stride;
    const B lo = (B)fct::Key<T>::value(keys_lo[n]);
    const B hi = (B)fct::Key<T>::value(keys_hi[n]);
    const i64 nb = slice_bins<T>(nbins, lo, hi);
    const bool in_shared = nb <= shared_bins;
    unsigned int* row = hist + (i64)n * stride;
    if (in_shared) {
        for (i64 b = threadIdx.x; b < nb; b += blockDim.x) sh[b] = 0u;
    }
    __syncthreads();
    for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < plane; i += (i64)gridDim.x * blockDim.x) {
        if (has_mask && m[i] == 0) continue;
        const i64 b = fct::bin_of((B)img[i], lo, hi, nbins, nb);
        FCT_ASSERT(b >= 0 && b < nb && b < stride);
        if (in_shared) {
            atomicAdd(sh + b, 1u);
        } else {
            atomicAdd(row + b, 1u);
        }
    }
    __syncthreads();
    if (in_shared) {
        for (i64 b = threadIdx.x; b < nb; b += blockDim.x) {
            const unsigned int c = sh[b];
            if (c) atomicAdd(row + b, c);
        }
    }
}

// equalize_lut: OpenCV's equalisation table of each slice (lowest occupied bin
// -> 0, top -> maxval; a single occupied bin -> all 0). Grid (slices,).
template <typename T>
__global__ void equalize_lut(const unsigned int* __restrict__ hist, int stride, const int* __restrict__ keys_lo,
                             const int* __restrict__ keys_hi, const u64* __restrict__ counts, int nbins,
                             float maxval, float* __restrict__ lut) {
    typedef typename fct::BinType<T>::type B;
    __shared__ i64 part[FCT_MAX_THREADS];
    const int n = blockIdx.x;
    const int tid = threadIdx.x, nt = blockDim.x;
    const B lo = (B)fct::Key<T>::value(keys_lo[n]);
    const B hi = (B)fct::Key<T>::value(keys_hi[n]);
    const i64 nb = slice_bins<T>(nbins, lo, hi);
    const unsigned int* row = hist + (i64)n * stride;
    float* out = lut + (i64)n * stride;
    const i64 h0 = row[0];
    const i64 den = (i64)counts[n] - h0;
    const i64 seg = (nb + nt - 1) / nt;
    const i64 b0 = fct::min2((i64)tid * seg, nb), b1 = fct::min2(b0 + seg, nb);
    i64 local = 0;
    for (i64 b = b0; b < b1; ++b) local += row[b];
    part[tid] = local;
    fct::block_exclusive_scan(part);
    i64 cum = part[tid];
    for (i64 b = b0; b < b1; ++b) {
        cum += row[b];
        out[b] = den > 0 ? fct::lut_value(cum - h0, den, maxval) : 0.0f;
    }
}

// equalize_apply: out = lut[bin(v)]; values below / above the counted range
// map to 0 / maxval (masked equalisation). Grid (blocks, slices).
template <typename T, typename OUT>
__global__ void equalize_apply(const T* __restrict__ src, i64 plane, const int* __restrict__ keys_lo,
                               const int* __restrict__ keys_hi, int nbins, const float* __restrict__ lut, int stride,
                               float maxval, OUT* __restrict__ dst) {
    typedef typename fct::BinType<T>::type B;
    const int n = blockIdx.y;
    const T* img = src + n * plane;
    OUT* out = dst + n * plane;
    const T tlo = fct::Key<T>::value(keys_lo[n]);
    const T thi = fct::Key<T>::value(keys_hi[n]);
    const B lo = (B)tlo, hi = (B)thi;
    const i64 nb = slice_bins<T>(nbins, lo, hi);
    const float* table = lut + (i64)n * stride;
    for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < plane; i += (i64)gridDim.x * blockDim.x) {
        const T v = img[i];
        float r;
        if (v < tlo) {
            r = 0.0f;
        } else if (v > thi) {
            r = maxval;
        } else {
            r = table[fct::bin_of((B)v, lo, hi, nbins, nb)];
        }
        out[i] = (OUT)r;
    }
}

// keys_to_ranges: the (lo, hi) pixel values of each slice as float64 pairs
// (the form fastct.cpu.histogram._slice_ranges gives CLAHE). Grid (blocks,).
template <typename T>
__global__ void keys_to_ranges(const int* __restrict__ keys_lo, const int* __restrict__ keys_hi,
                               double* __restrict__ ranges, int n) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        ranges[2 * i] = (double)fct::Key<T>::value(keys_lo[i]);
        ranges[2 * i + 1] = (double)fct::Key<T>::value(keys_hi[i]);
    }
}

template <typename T>
FCT_DEV void clahe_range(const double* ranges, int n, int nbins, typename fct::BinType<T>::type* lo,
                         typename fct::BinType<T>::type* hi, i64* nb) {
    typedef typename fct::BinType<T>::type B;
    *lo = (B)ranges[2 * n];
    *hi = (B)ranges[2 * n + 1];
    *nb = nbins > 0 ? (i64)nbins : (i64)(ranges[2 * n + 1] - ranges[2 * n]) + 1;
}

// clahe_luts: one block per (tile, slice), grid (tiles_y * tiles_x, slices).
// Histogram of the tile (rows_map / cols_map mirror-pad the slice to whole
// tiles, as OpenCV), clipped at max(int(clip_tp / nb), 1) when clip_on
// (clip_tp = clip_limit * tile pixels), the excess spread evenly and the
// residual to every step-th bin from 0, then the cumulative table on the
// output scale. Counts live in shared memory when nb <= shared_bins, else in
// the tile's own LUT row (reinterpreted as uint32 and overwritten in place).
// Dynamic shared memory: [0, shared_bins) uint32 counts, then blockDim.x int64
// scan partials at byte part_offset (no static shared memory: the 48 KiB a
// block may use without an opt-in is static + dynamic).
template <typename T>
__global__ void clahe_luts(const T* __restrict__ src, int h, int w, const double* __restrict__ ranges, int nbins,
                           double clip_tp, int clip_on, const int* __restrict__ rows_map,
                           const int* __restrict__ cols_map, int tile_h, int tile_w, int tiles_x, float maxval,
                           float* __restrict__ luts, int stride, int shared_bins, int part_offset) {
    typedef typename fct::BinType<T>::type B;
    FCT_DYNAMIC_SHARED(smem);
    i64* part = reinterpret_cast<i64*>(smem + part_offset);
    const int n = blockIdx.y, t = blockIdx.x;
    const int iy = t / tiles_x, ix = t - iy * tiles_x;
    const int tid = threadIdx.x, nt = blockDim.x;
    const i64 plane = (i64)h * w;
    const T* img = src + n * plane;
    B lo, hi;
    i64 nb;
    clahe_range<T>(ranges, n, nbins, &lo, &hi, &nb);
    FCT_ASSERT(nb >= 1 && nb <= stride);
    float* lut = luts + ((i64)n * gridDim.x + t) * stride;
    const bool in_shared = nb <= shared_bins;
    unsigned int* hist = in_shared ? reinterpret_cast<unsigned int*>(smem) : reinterpret_cast<unsigned int*>(lut);
    // Every per-bin phase gives thread tid the same contiguous run of bins.
    const i64 seg = (nb + nt - 1) / nt;
    const i64 b0 = fct::min2((i64)tid * seg, nb), b1 = fct::min2(b0 + seg, nb);
    for (i64 b = b0; b < b1; ++b) hist[b] = 0u;
    __syncthreads();
    const int tile_pixels = tile_h * tile_w;
    for (int e = tid; e < tile_pixels; e += nt) {
        const int yy = iy * tile_h + e / tile_w, xx = ix * tile_w + e % tile_w;
        const T v = img[(i64)rows_map[yy] * w + cols_map[xx]];
        atomicAdd(hist + fct::bin_of((B)v, lo, hi, nbins, nb), 1u);
    }
    __syncthreads();
    if (clip_on) {
        const i64 limit = fct::max2((i64)(clip_tp / (double)nb), (i64)1);
        i64 excess = 0;
        for (i64 b = b0; b < b1; ++b) {
            const i64 c = hist[b];
            if (c > limit) {
                excess += c - limit;
                hist[b] = (unsigned int)limit;
            }
        }
        const i64 clipped = fct::block_reduce(part, excess, fct::SumOp());
        const i64 batch = clipped / nb;
        const i64 residual = clipped - batch * nb;
        const i64 step = residual > 0 ? fct::max2(nb / residual, (i64)1) : 1;
        for (i64 b = b0; b < b1; ++b) {
            i64 c = (i64)hist[b] + batch;
            if (residual > 0 && b % step == 0 && b / step < residual) c += 1;
            hist[b] = (unsigned int)c;
        }
    }
    i64 local = 0;
    for (i64 b = b0; b < b1; ++b) local += hist[b];
    part[tid] = local;
    fct::block_exclusive_scan(part);
    i64 cum = part[tid];
    for (i64 b = b0; b < b1; ++b) {
        cum += hist[b];  // read the count before (in global mode) its slot becomes the LUT value
        lut[b] = fct::lut_value(cum, tile_pixels, maxval);
    }
}

// clahe_apply: bilinear interpolation between the four nearest tile tables,
// float32 in OpenCV's order (fastct.cpu.histogram._clahe_apply). Grid (blocks, slices).
template <typename T, typename OUT>
__global__ void clahe_apply(const T* __restrict__ src, int h, int w, const double* __restrict__ ranges, int nbins,
                            const float* __restrict__ luts, int stride, int tiles_y, int tiles_x, float inv_th,
                            float inv_tw, float maxval, OUT* __restrict__ dst) {
    typedef typename fct::BinType<T>::type B;
    const int n = blockIdx.y;
    const i64 plane = (i64)h * w;
    const T* img = src + n * plane;
    OUT* out = dst + n * plane;
    B lo, hi;
    i64 nb;
    clahe_range<T>(ranges, n, nbins, &lo, &hi, &nb);
    const float* base = luts + (i64)n * tiles_y * tiles_x * stride;
    for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < plane; i += (i64)gridDim.x * blockDim.x) {
        const int y = (int)(i / w), x = (int)(i - (i64)y * w);
        const float tyf = fct::sub(fct::mul((float)y, inv_th), 0.5f);
        i64 ty1 = (i64)floorf(tyf);
        const float ya = fct::sub(tyf, (float)ty1);
        const float ya1 = fct::sub(1.0f, ya);
        const i64 ty2 = fct::min2(ty1 + 1, (i64)tiles_y - 1);
        ty1 = fct::max2(ty1, (i64)0);
        const float txf = fct::sub(fct::mul((float)x, inv_tw), 0.5f);
        i64 tx1 = (i64)floorf(txf);
        const float xa = fct::sub(txf, (float)tx1);
        const float xa1 = fct::sub(1.0f, xa);
        const i64 tx2 = fct::min2(tx1 + 1, (i64)tiles_x - 1);
        tx1 = fct::max2(tx1, (i64)0);
        const i64 b = fct::bin_of((B)img[i], lo, hi, nbins, nb);
        const float l11 = base[(ty1 * tiles_x + tx1) * stride + b];
        const float l12 = base[(ty1 * tiles_x + tx2) * stride + b];
        const float l21 = base[(ty2 * tiles_x + tx1) * stride + b];
        const float l22 = base[(ty2 * tiles_x + tx2) * stride + b];
        const float top = fct::add(fct::mul(l11, xa1), fct::mul(l12, xa));
        const float bottom = fct::add(fct::mul(l21, xa1), fct::mul(l22, xa));
        const float res = fct::add(fct::mul(top, ya1), fct::mul(bottom, ya));
        if (maxval == 1.0f) {
            out[i] = (OUT)res;
        } else {
            out[i] = (OUT)fct::min2(fct::max2(rintf(res), 0.0f), maxval);
        }
    }
}

#if defined(__CUDACC__) && !defined(__CUDACC_RTC__)
extern void* const fastct_histogram_instances[];  // external linkage: no unused warning
void* const fastct_histogram_instances[] = {
    // FASTCT-INSTANTIATIONS-BEGIN
    (void*)&slice_stats<unsigned char>,
    (void*)&slice_stats<unsigned short>,
    (void*)&slice_stats<short>,
    (void*)&slice_stats<float>,
    (void*)&hist_clear<unsigned char>,
    (void*)&hist_clear<unsigned short>,
    (void*)&hist_clear<short>,
    (void*)&hist_clear<float>,
    (void*)&histogram<unsigned char>,
    (void*)&histogram<unsigned short>,
    (void*)&histogram<short>,
    (void*)&histogram<float>,
    (void*)&equalize_lut<unsigned char>,
    (void*)&equalize_lut<unsigned short>,
    (void*)&equalize_lut<short>,
    (void*)&equalize_lut<float>,
    (void*)&equalize_apply<unsigned char, float>,
    (void*)&equalize_apply<unsigned char, unsigned char>,
    (void*)&equalize_apply<unsigned char, unsigned short>,
    (void*)&equalize_apply<unsigned short, float>,
    (void*)&equalize_apply<unsigned short, unsigned char>,
    (void*)&equalize_apply<unsigned short, unsigned short>,
    (void*)&equalize_apply<short, float>,
    (void*)&equalize_apply<short, unsigned char>,
    (void*)&equalize_apply<short, unsigned short>,
    (void*)&equalize_apply<float, float>,
    (void*)&equalize_apply<float, unsigned char>,
    (void*)&equalize_apply<float, unsigned short>,
    (void*)&keys_to_ranges<unsigned char>,
    (void*)&keys_to_ranges<unsigned short>,
    (void*)&keys_to_ranges<short>,
    (void*)&keys_to_ranges<float>,
    (void*)&clahe_luts<unsigned char>,
    (void*)&clahe_luts<unsigned short>,
    (void*)&clahe_luts<short>,
    (void*)&clahe_luts<float>,
    (void*)&clahe_apply<unsigned char, float>,
    (void*)&clahe_apply<unsigned char, unsigned char>,
    (void*)&clahe_apply<unsigned char, unsigned short>,
    (void*)&clahe_apply<unsigned short, float>,
    (void*)&clahe_apply<unsigned short, unsigned char>,
    (void*)&clahe_apply<unsigned short, unsigned short>,
    (void*)&clahe_apply<short, float>,
    (void*)&clahe_apply<short, unsigned char>,
    (void*)&clahe_apply<short, unsigned short>,
    (void*)&clahe_apply<float, float>,
    (void*)&clahe_apply<float, unsigned char>,
    (void*)&clahe_apply<float, unsigned short>,
    // FASTCT-INSTANTIATIONS-END
};
#endif
