// Stencil kernels: chains of separable stages (erode / dilate / Gaussian, fused
// or alone), arbitrary flat footprints, Laplacian sharpening, unsharp masking.
//
// Twin of fastct/cpu/fused.py, morphology.py and filters.py. Border rules come
// as index maps (fastct._shared.borders.border_index_map, int32): map[p] is the
// source index of extended position p, or -1 where mode "constant" gives cval.
//
// Arithmetic (bit-identical to the CPU backend):
//   - running min/max are exact whatever the order;
//   - linear stages of integer images hold exact integer fixed-point sums in
//     ACC (float32 below 2**24, else float64: fastct._shared.fusion.accumulator_dtype)
//     and round once, floor(acc * 2**-bits + 1/2), then saturate;
//   - linear stages of float32 images sum in float32, tap 0 first, every
//     product and sum rounded on its own (as the CPU loops do).
#include "_common.cu"

using fct::i64;

// ---------------------------------------------------------------------------
// helpers

template <typename T, typename ACC>
FCT_DEV T finish_linear(ACC acc, ACC scale, ACC lo, ACC hi) {
    if (fct::Traits<T>::integer) {
        ACC v = fct::ffloor(fct::add(fct::mul(acc, scale), (ACC)0.5));
        v = fct::min2(fct::max2(v, lo), hi);
        return (T)v;
    }
    return (T)fct::mul(acc, scale);
}

template <typename T>
FCT_DEV T extreme(T a, T b, bool is_max) {
    return is_max ? fct::max2(a, b) : fct::min2(a, b);
}

// ---------------------------------------------------------------------------
// chain_tile: a whole chain of separable stages for one output tile, the
// intermediate stages kept in shared memory (one global read and write).
//
// Grid (ceil(w / tile_w), ceil(h / tile_h), slices); 2-D blocks (x along the
// columns, so warps read and write rows; any shape works). Stage s
// computes the rows/columns the later stages still need (the tile plus their
// halo, clipped to the slice), so its input reads stay within what stage s-1
// computed; borders are applied to each stage's own input, as on the CPU.
//
// Dynamic shared memory (layout from fastct.gpu._geometry.chain_tile_plan):
//   [0, buf_elems)           T    output of the previous stage
//   [buf_elems, 2 buf_elems) T    extended input rows of the current stage
//   h_offset ...             ACC  (linear) or T (min/max) row-pass results
//   stats_offset ...         int  one per thread (STATS only)
// STATS: also atomicMin/atomicMax the keys of the written values into
// keys_lo[n] / keys_hi[n] (the slice range for a following equalisation).
template <typename T, typename ACC, bool STATS>
__global__ void chain_tile(const T* __restrict__ src, T* __restrict__ dst, int h, int w, int n_stages,
                           const int* __restrict__ kinds, const int* __restrict__ kys, const int* __restrict__ kxs,
                           const ACC* __restrict__ taps_y, const ACC* __restrict__ taps_x, int kmax,
                           const int* __restrict__ rows_maps, const int* __restrict__ cols_maps, int row_pad,
                           int col_pad, const ACC* __restrict__ cvals, const ACC* __restrict__ scales, ACC lo, ACC hi,
                           int tile_h, int tile_w, int buf_elems, int h_offset, int stats_offset,
                           int* __restrict__ keys_lo, int* __restrict__ keys_hi) {
    FCT_DYNAMIC_SHARED(smem);
    T* bufx = reinterpret_cast<T*>(smem);
    T* bufe = bufx + buf_elems;
    unsigned char* hraw = smem + h_offset;
    const int tx0 = threadIdx.x, ty0 = threadIdx.y, bx = blockDim.x, by = blockDim.y;
    const int n = blockIdx.z;
    const i64 plane = (i64)h * w;
    const T* img = src + n * plane;
    T* out = dst + n * plane;
    const int y0 = blockIdx.y * tile_h, x0 = blockIdx.x * tile_w;
    const int y1 = fct::min2(h, y0 + tile_h), x1 = fct::min2(w, x0 + tile_w);

    int after_y = 0, after_x = 0;  // halo still needed by the stages after the current one
    for (int s = 0; s < n_stages; ++s) {
        after_y += kys[s] / 2;
        after_x += kxs[s] / 2;
    }
    int py0 = 0, px0 = 0, prows = 0, pcols = 0;  // region of the previous stage's output in bufx
    int key_lo = fct::kIntMax, key_hi = fct::kIntMin;

    for (int s = 0; s < n_stages; ++s) {
        const int kind = kinds[s], hy = kys[s] / 2, hx = kxs[s] / 2;
        after_y -= hy;
        after_x -= hx;
        const bool last = s == n_stages - 1;
        const int oy0 = last ? y0 : fct::max2(0, y0 - after_y);
        const int oy1 = last ? y1 : fct::min2(h, y1 + after_y);
        const int ox0 = last ? x0 : fct::max2(0, x0 - after_x);
        const int ox1 = last ? x1 : fct::min2(w, x1 + after_x);
        const int rows_out = oy1 - oy0, cols_out = ox1 - ox0;
        const int rows_in = rows_out + 2 * hy, cols_in = cols_out + 2 * hx;
        const int* rmap = rows_maps + (i64)s * (h + 2 * row_pad) + row_pad;
        const int* cmap = cols_maps + (i64)s * (w + 2 * col_pad) + col_pad;
        const T cval = (T)cvals[s];
        FCT_ASSERT(rows_in * cols_in <= buf_elems);
        FCT_ASSERT(rows_out * cols_out <= buf_elems);

        // 1. the stage's input rows, border-extended (the CPU's _fill)
        for (int i = ty0; i < rows_in; i += by) {
            const int m = rmap[oy0 - hy + i];
            for (int j = tx0; j < cols_in; j += bx) {
                const int mc = cmap[ox0 - hx + j];
                T v = cval;
                if (m >= 0 && mc >= 0) {
                    if (s == 0) {
                        v = img[(i64)m * w + mc];
                    } else {
                        FCT_ASSERT(m >= py0 && m < py0 + prows && mc >= px0 && mc < px0 + pcols);
                        v = bufx[(m - py0) * pcols + (mc - px0)];
                    }
                }
                bufe[i * cols_in + j] = v;
            }
        }
        __syncthreads();

        // 2. row pass
        if (kind == FCT_STAGE_LINEAR) {
            ACC* hl = reinterpret_cast<ACC*>(hraw);
            const ACC* tx = taps_x + (i64)s * kmax;
            const int kx = 2 * hx + 1;
            for (int i = ty0; i < rows_in; i += by) {
                for (int c = tx0; c < cols_out; c += bx) {
                    const T* row = bufe + i * cols_in + c;
                    ACC acc = fct::mul(tx[0], (ACC)row[0]);
                    for (int t = 1; t < kx; ++t) acc = fct::add(acc, fct::mul(tx[t], (ACC)row[t]));
                    hl[i * cols_out + c] = acc;
                }
            }
        } else {
            T* he = reinterpret_cast<T*>(hraw);
            const bool is_max = kind == FCT_STAGE_MAX;
            const int kx = 2 * hx + 1;
            for (int i = ty0; i < rows_in; i += by) {
                for (int c = tx0; c < cols_out; c += bx) {
                    const T* row = bufe + i * cols_in + c;
                    T r = row[0];
                    for (int t = 1; t < kx; ++t) r = extreme(r, row[t], is_max);
                    he[i * cols_out + c] = r;
                }
            }
        }
        __syncthreads();

        // 3. column pass: into bufx, or the output for the last stage
        const int ky = 2 * hy + 1;
        for (int r = ty0; r < rows_out; r += by) {
            for (int c = tx0; c < cols_out; c += bx) {
                const int e = r * cols_out + c;
                T v;
                if (kind == FCT_STAGE_LINEAR) {
                    const ACC* hl = reinterpret_cast<const ACC*>(hraw);
                    const ACC* ty = taps_y + (i64)s * kmax;
                    ACC acc = fct::mul(ty[0], hl[r * cols_out + c]);
                    for (int t = 1; t < ky; ++t) acc = fct::add(acc, fct::mul(ty[t], hl[(r + t) * cols_out + c]));
                    v = finish_linear<T, ACC>(acc, scales[s], lo, hi);
                } else {
                    const T* he = reinterpret_cast<const T*>(hraw);
                    const bool is_max = kind == FCT_STAGE_MAX;
                    v = he[r * cols_out + c];
                    for (int t = 1; t < ky; ++t) v = extreme(v, he[(r + t) * cols_out + c], is_max);
                }
                if (last) {
                    out[(i64)(oy0 + r) * w + (ox0 + c)] = v;
                    if (STATS) {
                        const int k = fct::Key<T>::of(v);
                        key_lo = fct::min2(key_lo, k);
                        key_hi = fct::max2(key_hi, k);
                    }
                } else {
                    bufx[e] = v;
                }
            }
        }
        __syncthreads();
        py0 = oy0;
        px0 = ox0;
        prows = rows_out;
        pcols = cols_out;
    }

    if (STATS) {
        int* red = reinterpret_cast<int*>(smem + stats_offset);
        const int block_lo = fct::block_reduce(red, key_lo, fct::MinOp());
        const int block_hi = fct::block_reduce(red, key_hi, fct::MaxOp());
        if (fct::block_rank() == 0) {
            atomicMin(keys_lo + n, block_lo);
            atomicMax(keys_hi + n, block_hi);
        }
    }
}

// ---------------------------------------------------------------------------
// One stage over whole slices in two global passes, for stencils too wide for
// a shared-memory tile. Grid (blocks, slices); each thread strides over pixels.
//
// Row pass: H[y, x] = combination over columns of row y (border-mapped).

template <typename T, typename ACC>
__global__ void stage_rows_linear(const T* __restrict__ src, ACC* __restrict__ hbuf, int h, int w, int kx,
                                  const ACC* __restrict__ tx, const int* __restrict__ cols_map, int col_pad,
                                  ACC cval) {
    const i64 plane = (i64)h * w;
    const int n = blockIdx.y;
    const T* img = src + n * plane;
    const int* cmap = cols_map + col_pad;
    const int hx = kx / 2;
    for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < plane; i += (i64)gridDim.x * blockDim.x) {
        const int y = (int)(i / w), x = (int)(i - (i64)y * w);
        const T* row = img + (i64)y * w;
        ACC acc = 0;
        for (int t = 0; t < kx; ++t) {
            const int mc = cmap[x - hx + t];
            const ACC v = mc < 0 ? cval : (ACC)row[mc];
            acc = t == 0 ? fct::mul(tx[0], v) : fct::add(acc, fct::mul(tx[t], v));
        }
        hbuf[n * plane + i] = acc;
    }
}

template <typename T>
__global__ void stage_rows_extreme(const T* __restrict__ src, T* __restrict__ hbuf, int h, int w, int kx,
                                   int is_max, const int* __restrict__ cols_map, int col_pad, T cval) {
    const i64 plane = (i64)h * w;
    const int n = blockIdx.y;
    const T* img = src + n * plane;
    const int* cmap = cols_map + col_pad;
    const int hx = kx / 2;
    for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < plane; i += (i64)gridDim.x * blockDim.x) {
        const int y = (int)(i / w), x = (int)(i - (i64)y * w);
        const T* row = img + (i64)y * w;
        T r = cval;
        for (int t = 0; t < kx; ++t) {
            const int mc = cmap[x - hx + t];
            const T v = mc < 0 ? cval : row[mc];
            r = t == 0 ? v : extreme(r, v, is_max != 0);
        }
        hbuf[n * plane + i] = r;
    }
}

// Column pass: out[y, x] = combination over border-mapped rows of H. A row
// outside the slice (constant mode) is the row pass of a constant line.
template <typename T, typename ACC>
__global__ void stage_cols_linear(const ACC* __restrict__ hbuf, T* __restrict__ dst, int h, int w, int ky,
                                  const ACC* __restrict__ ty, int kx, const ACC* __restrict__ tx,
                                  const int* __restrict__ rows_map, int row_pad, ACC cval, ACC scale, ACC lo,
                                  ACC hi) {
    const i64 plane = (i64)h * w;
    const int n = blockIdx.y;
    const ACC* hb = hbuf + n * plane;
    const int* rmap = rows_map + row_pad;
    const int hy = ky / 2;
    ACC const_row = fct::mul(tx[0], cval);
    for (int t = 1; t < kx; ++t) const_row = fct::add(const_row, fct::mul(tx[t], cval));
    for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < plane; i += (i64)gridDim.x * blockDim.x) {
        const int y = (int)(i / w), x = (int)(i - (i64)y * w);
        ACC acc = 0;
        for (int t = 0; t < ky; ++t) {
            const int m = rmap[y - hy + t];
            const ACC v = m < 0 ? const_row : hb[(i64)m * w + x];
            acc = t == 0 ? fct::mul(ty[0], v) : fct::add(acc, fct::mul(ty[t], v));
        }
        dst[n * plane + i] = finish_linear<T, ACC>(acc, scale, lo, hi);
    }
}

template <typename T>
__global__ void stage_cols_extreme(const T* __restrict__ hbuf, T* __restrict__ dst, int h, int w, int ky,
                                   int is_max, const int* __restrict__ rows_map, int row_pad, T cval) {
    const i64 plane = (i64)h * w;
    const int n = blockIdx.y;
    const T* hb = hbuf + n * plane;
    const int* rmap = rows_map + row_pad;
    const int hy = ky / 2;
    for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < plane; i += (i64)gridDim.x * blockDim.x) {
        const int y = (int)(i / w), x = (int)(i - (i64)y * w);
        T r = cval;
        for (int t = 0; t < ky; ++t) {
            const int m = rmap[y - hy + t];
            const T v = m < 0 ? cval : hb[(i64)m * w + x];
            r = t == 0 ? v : extreme(r, v, is_max != 0);
        }
        dst[n * plane + i] = r;
    }
}

// ---------------------------------------------------------------------------
// morph_offsets: min (erode) or max (dilate) over the offsets of any flat
// footprint (already reflected for dilation). offsets: (n_off, 2) int32 (dy, dx).
// rows_map / cols_map extend the axes by ry / rx on both sides.

template <typename T>
__global__ void morph_offsets(const T* __restrict__ src, T* __restrict__ dst, int h, int w,
                              const int* __restrict__ offsets, int n_off, int is_max,
                              const int* __restrict__ rows_map, int ry, const int* __restrict__ cols_map, int rx,
                              T cval) {
    const i64 plane = (i64)h * w;
    const int n = blockIdx.y;
    const T* img = src + n * plane;
    const int* rmap = rows_map + ry;
    const int* cmap = cols_map + rx;
    for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < plane; i += (i64)gridDim.x * blockDim.x) {
        const int y = (int)(i / w), x = (int)(i - (i64)y * w);
        T r = cval;
        for (int k = 0; k < n_off; ++k) {
            const int m = rmap[y + offsets[2 * k]], mc = cmap[x + offsets[2 * k + 1]];
            const T v = (m < 0 || mc < 0) ? cval : img[(i64)m * w + mc];
            r = k == 0 ? v : extreme(r, v, is_max != 0);
        }
        dst[n * plane + i] = r;
    }
}

// ---------------------------------------------------------------------------
// sharpen: x + amount * (k x - sum of its k = 4 or 8 neighbours).
// Integers: the Laplacian in int64, then add_scaled_int. Floats: the Laplacian
// of float32 values in float64 (as numba types it), rounded to float32 once.

template <typename T>
FCT_DEV T sharpen_read(const T* img, int w, const int* rmap, const int* cmap, int y, int x, T cval) {
    const int m = rmap[y], mc = cmap[x];
    return (m < 0 || mc < 0) ? cval : img[(i64)m * w + mc];
}

template <typename T>
__global__ void sharpen(const T* __restrict__ src, T* __restrict__ dst, int h, int w,
                        const int* __restrict__ rows_map, const int* __restrict__ cols_map, double cval,
                        float amount, int eight, i64 lo, i64 hi) {
    const i64 plane = (i64)h * w;
    const int n = blockIdx.y;
    const T* img = src + n * plane;
    const int* rmap = rows_map + 1;
    const int* cmap = cols_map + 1;
    const T cv = (T)cval;
    for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < plane; i += (i64)gridDim.x * blockDim.x) {
        const int y = (int)(i / w), x = (int)(i - (i64)y * w);
        const T mid = sharpen_read(img, w, rmap, cmap, y, x, cv);
        const T left = sharpen_read(img, w, rmap, cmap, y, x - 1, cv);
        const T right = sharpen_read(img, w, rmap, cmap, y, x + 1, cv);
        const T up = sharpen_read(img, w, rmap, cmap, y - 1, x, cv);
        const T down = sharpen_read(img, w, rmap, cmap, y + 1, x, cv);
        const T x0 = img[i];
        if (fct::Traits<T>::integer) {
            i64 lap = (eight ? 8 : 4) * (i64)mid - (i64)left - (i64)right - (i64)up - (i64)down;
            if (eight) {
                lap = lap - (i64)sharpen_read(img, w, rmap, cmap, y - 1, x - 1, cv) -
                      (i64)sharpen_read(img, w, rmap, cmap, y - 1, x + 1, cv) -
                      (i64)sharpen_read(img, w, rmap, cmap, y + 1, x - 1, cv) -
                      (i64)sharpen_read(img, w, rmap, cmap, y + 1, x + 1, cv);
            }
            dst[n * plane + i] = (T)fct::add_scaled_int((i64)x0, lap, amount, lo, hi);
        } else {
            double lap = fct::mul((double)(eight ? 8 : 4), (double)mid);
            lap = fct::sub(lap, (double)left);
            lap = fct::sub(lap, (double)right);
            lap = fct::sub(lap, (double)up);
            lap = fct::sub(lap, (double)down);
            if (eight) {
                lap = fct::sub(lap, (double)sharpen_read(img, w, rmap, cmap, y - 1, x - 1, cv));
                lap = fct::sub(lap, (double)sharpen_read(img, w, rmap, cmap, y - 1, x + 1, cv));
                lap = fct::sub(lap, (double)sharpen_read(img, w, rmap, cmap, y + 1, x - 1, cv));
                lap = fct::sub(lap, (double)sharpen_read(img, w, rmap, cmap, y + 1, x + 1, cv));
            }
            dst[n * plane + i] = (T)fct::add_scaled_float((float)x0, (float)lap, amount);
        }
    }
}

// unsharp_combine: x + amount * (x - blurred); integers widen before subtracting.
template <typename T>
__global__ void unsharp_combine(const T* __restrict__ src, const T* __restrict__ blurred, T* __restrict__ dst,
                                i64 count, float amount, i64 lo, i64 hi) {
    for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < count; i += (i64)gridDim.x * blockDim.x) {
        const T s = src[i], b = blurred[i];
        if (fct::Traits<T>::integer) {
            dst[i] = (T)fct::add_scaled_int((i64)s, (i64)s - (i64)b, amount, lo, hi);
        } else {
            dst[i] = (T)fct::add_scaled_float((float)s, fct::sub((float)s, (float)b), amount);
        }
    }
}

// ---------------------------------------------------------------------------
// nvcc -c (ci/test.sh) compiles what NVRTC compiles on demand: every
// instantiation fastct.gpu._kernels lists for this file (a test checks the two
// lists agree). NVRTC instantiates them through name expressions instead.
#if defined(__CUDACC__) && !defined(__CUDACC_RTC__)
extern void* const fastct_stencil_instances[];  // external linkage: no unused warning
void* const fastct_stencil_instances[] = {
    // FASTCT-INSTANTIATIONS-BEGIN
    (void*)&chain_tile<unsigned char, float, false>,
    (void*)&chain_tile<unsigned char, float, true>,
    (void*)&chain_tile<unsigned char, double, false>,
    (void*)&chain_tile<unsigned char, double, true>,
    (void*)&chain_tile<unsigned short, float, false>,
    (void*)&chain_tile<unsigned short, float, true>,
    (void*)&chain_tile<unsigned short, double, false>,
    (void*)&chain_tile<unsigned short, double, true>,
    (void*)&chain_tile<short, float, false>,
    (void*)&chain_tile<short, float, true>,
    (void*)&chain_tile<short, double, false>,
    (void*)&chain_tile<short, double, true>,
    (void*)&chain_tile<float, float, false>,
    (void*)&chain_tile<double, float, false>,
    (void*)&stage_rows_linear<unsigned char, float>,
    (void*)&stage_rows_linear<unsigned char, double>,
    (void*)&stage_rows_linear<unsigned short, float>,
    (void*)&stage_rows_linear<unsigned short, double>,
    (void*)&stage_rows_linear<short, float>,
    (void*)&stage_rows_linear<short, double>,
    (void*)&stage_rows_linear<float, float>,
    (void*)&stage_cols_linear<unsigned char, float>,
    (void*)&stage_cols_linear<unsigned char, double>,
    (void*)&stage_cols_linear<unsigned short, float>,
    (void*)&stage_cols_linear<unsigned short, double>,
    (void*)&stage_cols_linear<short, float>,
    (void*)&stage_cols_linear<short, double>,
    (void*)&stage_cols_linear<float, float>,
    (void*)&stage_rows_extreme<unsigned char>,
    (void*)&stage_rows_extreme<unsigned short>,
    (void*)&stage_rows_extreme<short>,
    (void*)&stage_rows_extreme<float>,
    (void*)&stage_rows_extreme<double>,
    (void*)&stage_cols_extreme<unsigned char>,
    (void*)&stage_cols_extreme<unsigned short>,
    (void*)&stage_cols_extreme<short>,
    (void*)&stage_cols_extreme<float>,
    (void*)&stage_cols_extreme<double>,
    (void*)&morph_offsets<unsigned char>,
    (void*)&morph_offsets<unsigned short>,
    (void*)&morph_offsets<short>,
    (void*)&morph_offsets<float>,
    (void*)&morph_offsets<double>,
    (void*)&sharpen<unsigned char>,
    (void*)&sharpen<unsigned short>,
    (void*)&sharpen<short>,
    (void*)&sharpen<float>,
    (void*)&unsharp_combine<unsigned char>,
    (void*)&unsharp_combine<unsigned short>,
    (void*)&unsharp_combine<short>,
    (void*)&unsharp_combine<float>,
    // FASTCT-INSTANTIATIONS-END
};
#endif
