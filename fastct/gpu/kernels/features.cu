// Classification features of CT slices (twin of fastct/cpu/features.py).
//
// fastct.gpu.features launches these in order, over a run of whole slices
// (grid y = slice for the per-pixel kernels):
//   feat_prepare        3x3 sums s9, the low-density set (s9 < tissue9), CCL init
//   feat_row_sums       sliding 5-wide row sums of x and x^2 (for the 5x5 deviation)
//   ccl_merge/_flatten  4-connected components of a u8 set (union-find, below)
//   feat_mark_seeds     flag the components that touch the border (flood seeds)
//   feat_body           body = tissue with holes filled; next set = low & body
//   feat_count          component sizes
//   feat_big            lung components (size >= min_area); next set = body & !lung
//   feat_filled         lung with its holes filled (inside the body)
//   feat_box_rows/_cols box count of lung pixels; the lung field; body/lung counts
//   feat_row_runs       row distances of the dense / air masks (chessboard, 1st pass)
//   feat_histograms     per lung-field pixel: HU, deviation, gradient, LBP, lesion sizes
//   feat_finalize       counts -> fractions, the feature row
//   feat_grid_means     area means of the preprocessed slice (image group)
//
// Flood fills are component labelling: a flood from seeds through a set
// reaches exactly the set's components that hold a seed, so the CPU's
// sequential floods become three CCLs plus a flag per component root.
// Arithmetic on pixel values is float64 in the CPU backend's order, through
// the rounded intrinsics of _common.cu, so every value matches bit for bit.
#include "_common.cu"

//: Per-slice counters of feat_histograms (checked by fastct.gpu.features).
#define FEAT_MAX_COUNTS 256

namespace feat {

typedef fct::i64 i64;
typedef fct::u64 u64;
typedef unsigned char u8;

// Number of edges <= value, stopping at the first larger edge (fastct.cpu.features._bin).
FCT_DEV int bin_edges(double value, const double* edges, int n) {
    int b = 0;
    for (int e = 0; e < n; ++e) {
        if (value >= edges[e]) {
            b = e + 1;
        } else {
            break;
        }
    }
    return b;
}

// Number of (sorted) steps <= d.
FCT_DEV int bin_steps(int d, const long long* steps, int n) {
    int b = 0;
    for (int e = 0; e < n; ++e) {
        if ((long long)d >= steps[e]) {
            b = e + 1;
        } else {
            break;
        }
    }
    return b;
}

FCT_DEV int clampi(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

// Grid-stride loop over the pixels of slice blockIdx.y.
FCT_DEV i64 first_pixel() { return (i64)blockIdx.x * blockDim.x + threadIdx.x; }
FCT_DEV i64 pixel_stride() { return (i64)gridDim.x * blockDim.x; }

// Union-find over the pixels of one slice: label[p] is a parent index (< p
// unless p is a root), -1 outside the set. Roots only ever link to smaller
// indices, so a root is its component's smallest index. Reads go through
// volatile: another block may relink a node at any time, and a stale cached
// parent would make the retry loop of unite() spin.
FCT_DEV int find_root(const int* label, int a) {
    const volatile int* parent = label;
    int p = parent[a];
    while (p != a) {
        a = p;
        p = parent[a];
    }
    return a;
}

FCT_DEV void unite(int* label, int a, int b) {
    bool done = false;
    while (!done) {
        a = find_root(label, a);
        b = find_root(label, b);
        if (a < b) {
            const int old = atomicMin(label + b, a);
            done = old == b;  // b was still a root: linked
            b = old;
        } else if (b < a) {
            const int old = atomicMin(label + a, b);
            done = old == a;
            a = old;
        } else {
            done = true;
        }
    }
}

}  // namespace feat

// feat_prepare: s9 = 3x3 sums (nearest-edge borders; rows first, then the
// three row sums, the CPU's order), low = !(s9 >= tissue9), CCL labels of
// low initialised, flags cleared. Grid (blocks, slices).
template <typename T>
__global__ void feat_prepare(const T* __restrict__ src, int h, int w, double tissue9, double* __restrict__ s9,
                             unsigned char* __restrict__ low, int* __restrict__ label, int* __restrict__ flags) {
    const int n = blockIdx.y;
    const fct::i64 plane = (fct::i64)h * w, base = n * plane;
    const T* img = src + base;
    for (fct::i64 i = feat::first_pixel(); i < plane; i += feat::pixel_stride()) {
        const int y = (int)(i / w), x = (int)(i - (fct::i64)y * w);
        const int xm = x > 0 ? x - 1 : 0, xp = x < w - 1 ? x + 1 : w - 1;
        const int rows[3] = {y > 0 ? y - 1 : 0, y, y < h - 1 ? y + 1 : h - 1};
        double t[3];
        for (int k = 0; k < 3; ++k) {
            const T* line = img + (fct::i64)rows[k] * w;
            t[k] = fct::add(fct::add((double)line[xm], (double)line[x]), (double)line[xp]);
        }
        const double s = fct::add(fct::add(t[0], t[1]), t[2]);
        const bool in = !(s >= tissue9);
        s9[base + i] = s;
        low[base + i] = in ? 1 : 0;
        label[base + i] = in ? (int)i : -1;
        flags[base + i] = 0;
    }
}

// feat_row_sums: per row, the sums of x and x^2 over the 2r+1 columns around
// each pixel (nearest-edge borders), slid along the row exactly as the CPU's
// _row_window_sums (same additions in the same order). Grid (blocks,) over
// all rows of the run: one thread per row.
template <typename T>
__global__ void feat_row_sums(const T* __restrict__ src, int rows, int w, int r, double* __restrict__ hs,
                              double* __restrict__ hs2) {
    for (int row = blockIdx.x * blockDim.x + threadIdx.x; row < rows; row += gridDim.x * blockDim.x) {
        const T* line = src + (fct::i64)row * w;
        double* out = hs + (fct::i64)row * w;
        double* out2 = hs2 + (fct::i64)row * w;
        double s = 0.0, ss = 0.0;
        for (int dx = -r; dx <= r; ++dx) {
            const double v = (double)line[fct::min2(fct::max2(dx, 0), w - 1)];
            s = fct::add(s, v);
            ss = fct::add(ss, fct::mul(v, v));
        }
        out[0] = s;
        out2[0] = ss;
        for (int x = 1; x < w; ++x) {
            const double vin = (double)line[fct::min2(x + r, w - 1)];
            const double vout = (double)line[fct::max2(x - r - 1, 0)];
            s = fct::add(s, fct::sub(vin, vout));
            ss = fct::add(ss, fct::sub(fct::mul(vin, vin), fct::mul(vout, vout)));
            out[x] = s;
            out2[x] = ss;
        }
    }
}

// ccl_merge: unite every set pixel with its set neighbours to the left and
// above (4-connectivity). Labels must be initialised (p or -1). Grid (blocks, slices).
__global__ void ccl_merge(const unsigned char* __restrict__ set, int h, int w, int* label) {
    const int n = blockIdx.y;
    const fct::i64 plane = (fct::i64)h * w, base = n * plane;
    const unsigned char* m = set + base;
    int* lab = label + base;
    for (fct::i64 i = feat::first_pixel(); i < plane; i += feat::pixel_stride()) {
        if (!m[i]) continue;
        const int p = (int)i;
        const int y = p / w, x = p - y * w;
        if (x > 0 && m[p - 1]) feat::unite(lab, p, p - 1);
        if (y > 0 && m[p - w]) feat::unite(lab, p, p - w);
    }
}

// ccl_flatten: every set pixel's label becomes its component's root. Grid (blocks, slices).
__global__ void ccl_flatten(const unsigned char* __restrict__ set, int h, int w, int* label) {
    const int n = blockIdx.y;
    const fct::i64 plane = (fct::i64)h * w, base = n * plane;
    const unsigned char* m = set + base;
    int* lab = label + base;
    for (fct::i64 i = feat::first_pixel(); i < plane; i += feat::pixel_stride()) {
        if (m[i]) lab[i] = feat::find_root(lab, (int)i);
    }
}

// feat_mark_seeds: flags[root] = 1 for the components holding a seed: a set
// pixel on the image edge or, with inside_body, 4-adjacent to a non-body
// pixel (the CPU's _fill_holes_of / _fill_holes_in_body seeds). Every writer
// stores the same 1, so the race is benign. Grid (blocks, slices).
__global__ void feat_mark_seeds(const unsigned char* __restrict__ set, const int* __restrict__ label,
                                const unsigned char* __restrict__ body, int inside_body, int h, int w,
                                int* flags) {
    const int n = blockIdx.y;
    const fct::i64 plane = (fct::i64)h * w, base = n * plane;
    const unsigned char* m = set + base;
    const unsigned char* b = body + base;
    for (fct::i64 i = feat::first_pixel(); i < plane; i += feat::pixel_stride()) {
        if (!m[i]) continue;
        const int p = (int)i;
        const int y = p / w, x = p - y * w;
        bool seed = y == 0 || y == h - 1 || x == 0 || x == w - 1;
        if (!seed && inside_body) seed = !b[p - w] || !b[p + w] || !b[p - 1] || !b[p + 1];
        if (seed) {
            const int root = label[base + i];
            FCT_ASSERT(root >= 0 && root <= p);
            flags[base + root] = 1;
        }
    }
}

// feat_body: body = everything but the low pixels whose component reaches the
// border (tissue with its holes filled); the set becomes low & body (lung
// candidates), its labels initialised and next_flags cleared. Each thread
// reads and writes only its own pixel of set / label. Grid (blocks, slices).
__global__ void feat_body(unsigned char* __restrict__ set, int* __restrict__ label, const int* __restrict__ flags,
                          int h, int w, unsigned char* __restrict__ body, int* __restrict__ next_flags) {
    const int n = blockIdx.y;
    const fct::i64 plane = (fct::i64)h * w, base = n * plane;
    for (fct::i64 i = feat::first_pixel(); i < plane; i += feat::pixel_stride()) {
        const bool low = set[base + i] != 0;
        const bool outside = low && flags[base + label[base + i]] != 0;
        const bool in = low && !outside;
        body[base + i] = outside ? 0 : 1;
        set[base + i] = in ? 1 : 0;
        label[base + i] = in ? (int)i : -1;
        next_flags[base + i] = 0;
    }
}

// feat_count: sizes[root] = pixels of each component (sizes cleared before). Grid (blocks, slices).
__global__ void feat_count(const unsigned char* __restrict__ set, const int* __restrict__ label, int h, int w,
                           int* sizes) {
    const int n = blockIdx.y;
    const fct::i64 plane = (fct::i64)h * w, base = n * plane;
    for (fct::i64 i = feat::first_pixel(); i < plane; i += feat::pixel_stride()) {
        if (set[base + i]) atomicAdd(sizes + base + label[base + i], 1);
    }
}

// feat_big: lung = candidate components of at least min_area pixels; the set
// becomes body & !lung (what the hole fill floods), labels initialised and
// flags cleared. Grid (blocks, slices).
__global__ void feat_big(unsigned char* __restrict__ set, int* __restrict__ label, const int* __restrict__ sizes,
                         int min_area, const unsigned char* __restrict__ body, int h, int w,
                         unsigned char* __restrict__ big, int* __restrict__ flags) {
    const int n = blockIdx.y;
    const fct::i64 plane = (fct::i64)h * w, base = n * plane;
    for (fct::i64 i = feat::first_pixel(); i < plane; i += feat::pixel_stride()) {
        const bool lung = set[base + i] != 0 && sizes[base + label[base + i]] >= min_area;
        const bool in = body[base + i] != 0 && !lung;
        big[base + i] = lung ? 1 : 0;
        set[base + i] = in ? 1 : 0;
        label[base + i] = in ? (int)i : -1;
        flags[base + i] = 0;
    }
}

// feat_filled: set = body pixels not reached by the flood (the lung with its
// holes filled). Grid (blocks, slices).
__global__ void feat_filled(unsigned char* __restrict__ set, const int* __restrict__ label,
                            const int* __restrict__ flags, const unsigned char* __restrict__ body, int h, int w) {
    const int n = blockIdx.y;
    const fct::i64 plane = (fct::i64)h * w, base = n * plane;
    for (fct::i64 i = feat::first_pixel(); i < plane; i += feat::pixel_stride()) {
        const bool flooded = set[base + i] != 0 && flags[base + label[base + i]] != 0;
        set[base + i] = (body[base + i] != 0 && !flooded) ? 1 : 0;
    }
}

// feat_box_rows: lung pixels among the 2r+1 columns around each pixel
// (clipped at the edges). Grid (blocks, slices).
__global__ void feat_box_rows(const unsigned char* __restrict__ big, int h, int w, int r, int* __restrict__ rowbox) {
    const int n = blockIdx.y;
    const fct::i64 plane = (fct::i64)h * w, base = n * plane;
    for (fct::i64 i = feat::first_pixel(); i < plane; i += feat::pixel_stride()) {
        const int y = (int)(i / w), x = (int)(i - (fct::i64)y * w);
        const unsigned char* line = big + base + (fct::i64)y * w;
        const int x1 = fct::min2(x + r + 1, w);
        int c = 0;
        for (int xx = fct::max2(x - r, 0); xx < x1; ++xx) c += line[xx];
        rowbox[base + i] = c;
    }
}

// feat_box_cols: one thread per column of the run slides the box count down
// the column (integer sums: exact). lung field = body & (filled | box at least
// half lung); body and lung-field pixels counted per slice into
// mask_counts[2n], [2n+1]. Grid (blocks,) over slices * w columns.
__global__ void feat_box_cols(const int* __restrict__ rowbox, const unsigned char* __restrict__ filled,
                              const unsigned char* __restrict__ body, int cols, int h, int w, int r,
                              unsigned char* __restrict__ lung, unsigned long long* __restrict__ mask_counts) {
    const long long area = (long long)(2 * r + 1) * (2 * r + 1);
    for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < cols; c += gridDim.x * blockDim.x) {
        const int n = c / w, x = c - n * w;
        const fct::i64 base = (fct::i64)n * h * w + x;
        long long count = 0;
        for (int y = 0; y < fct::min2(r, h - 1) + 1; ++y) count += rowbox[base + (fct::i64)y * w];
        unsigned long long n_body = 0, n_lung = 0;
        for (int y = 0; y < h; ++y) {
            // count covers rows [max(y - r, 0), min(y + r + 1, h))
            const fct::i64 p = base + (fct::i64)y * w;
            unsigned char v = 0;
            if (body[p]) {
                v = (filled[p] || 2 * count >= area) ? 1 : 0;
                n_body += 1;
                n_lung += v;
            }
            lung[p] = v;
            if (y + r + 1 < h) count += rowbox[base + (fct::i64)(y + r + 1) * w];
            if (y - r >= 0) count -= rowbox[base + (fct::i64)(y - r) * w];
        }
        if (n_body) atomicAdd(mask_counts + 2 * n, n_body);
        if (n_lung) atomicAdd(mask_counts + 2 * n + 1, n_lung);
    }
}

// feat_row_runs: for the dense mask (lung & s9 >= dense9) and the air mask
// (lung & s9 < air9), each mask pixel's distance along its row to the nearest
// non-mask pixel (outside the row counts as non-mask); 0 off the mask. The
// chessboard distance is then min over rows y' of max(|y - y'|, run(y'))
// (feat_histograms). Grid (blocks,) over all rows of the run: one thread per row.
__global__ void feat_row_runs(const double* __restrict__ s9, const unsigned char* __restrict__ lung, int rows, int w,
                              double dense9, double air9, int* __restrict__ run_dense, int* __restrict__ run_air) {
    for (int row = blockIdx.x * blockDim.x + threadIdx.x; row < rows; row += gridDim.x * blockDim.x) {
        const fct::i64 off = (fct::i64)row * w;
        int ld = 0, la = 0;
        for (int x = 0; x < w; ++x) {
            const bool in = lung[off + x] != 0;
            const double v = s9[off + x];
            ld = (in && v >= dense9) ? ld + 1 : 0;
            la = (in && v < air9) ? la + 1 : 0;
            run_dense[off + x] = ld;
            run_air[off + x] = la;
        }
        int rd = 0, ra = 0;
        for (int x = w - 1; x >= 0; --x) {
            const int a = run_dense[off + x], b = run_air[off + x];
            rd = a > 0 ? rd + 1 : 0;
            ra = b > 0 ? ra + 1 : 0;
            run_dense[off + x] = fct::min2(a, rd);
            run_air[off + x] = fct::min2(b, ra);
        }
    }
}

namespace feat {

// Chessboard distance at (y, x) of a mask pixel from its row runs (rows off
// the slice are all non-mask: run 0).
FCT_DEV int chessboard(const int* run, int y, int x, int h, int w) {
    int best = run[(fct::i64)y * w + x];
    for (int k = 1; k < best; ++k) {
        const int up = y - k >= 0 ? run[(fct::i64)(y - k) * w + x] : 0;
        const int down = y + k < h ? run[(fct::i64)(y + k) * w + x] : 0;
        best = fct::min2(best, fct::max2(k, fct::min2(up, down)));
    }
    return best;
}

// skimage's get_pixel2d in constant mode with cval 0.
template <typename P>
FCT_DEV double pixel(const P* pre, int r, int c, int h, int w) {
    if (r < 0 || r >= h || c < 0 || c >= w) return 0.0;
    return (double)pre[(fct::i64)r * w + c];
}

// scikit-image's uniform LBP code at (y, x) (fastct.cpu.features._lbp_uniform):
// bilinear samples, bit = sample >= centre, P + 1 when more than two
// transitions between consecutive samples (not wrapping around).
template <typename P>
FCT_DEV int lbp_uniform(const P* pre, int y, int x, int h, int w, const double* rows, const double* cols, int points) {
    const double centre = (double)pre[(fct::i64)y * w + x];
    int ones = 0, changes = 0, prev = 0;
    for (int i = 0; i < points; ++i) {
        const double rr = fct::add((double)y, rows[i]);
        const double cc = fct::add((double)x, cols[i]);
        const double minr = floor(rr), minc = floor(cc), maxr = ceil(rr), maxc = ceil(cc);
        const double dr = fct::sub(rr, minr), dc = fct::sub(cc, minc);
        const int r0 = (int)minr, r1 = (int)maxr, c0 = (int)minc, c1 = (int)maxc;
        const double dc1 = fct::sub(1.0, dc), dr1 = fct::sub(1.0, dr);
        const double top = fct::add(fct::mul(dc1, pixel(pre, r0, c0, h, w)), fct::mul(dc, pixel(pre, r0, c1, h, w)));
        const double bottom =
            fct::add(fct::mul(dc1, pixel(pre, r1, c0, h, w)), fct::mul(dc, pixel(pre, r1, c1, h, w)));
        const double value = fct::add(fct::mul(dr1, top), fct::mul(dr, bottom));
        const int bit = fct::sub(value, centre) >= 0.0 ? 1 : 0;
        ones += bit;
        if (i > 0) changes += bit != prev ? 1 : 0;
        prev = bit;
    }
    return changes <= 2 ? ones : points + 1;
}

}  // namespace feat

// feat_histograms: for every lung-field pixel, the bins of its 3x3-mean HU,
// 5x5 deviation, Sobel gradient, LBP code (has_image) and dense / air
// chessboard distances, counted in shared memory and added per slice to
// counts (rows of ncounts: hu, std, grad, lbp, dense, air bins; see
// fastct.gpu.features); the largest dense / air distances go to maxima[2n],
// [2n+1]. edges: hu9, std_num, grad_sq, lbp rows, lbp cols; steps: the
// dense then the air steps. Grid (blocks, slices).
template <typename P>
__global__ void feat_histograms(const double* __restrict__ s9, const double* __restrict__ hs,
                                const double* __restrict__ hs2, const unsigned char* __restrict__ lung,
                                const int* __restrict__ run_dense, const int* __restrict__ run_air,
                                const P* __restrict__ pre, int has_image, int h, int w, int r,
                                const double* __restrict__ edges, int n_hu, int n_std, int n_grad, int n_lbp,
                                const long long* __restrict__ steps, int n_dense, int n_air,
                                unsigned long long* __restrict__ counts, int ncounts, int* __restrict__ maxima) {
    __shared__ unsigned int sh[FEAT_MAX_COUNTS];
    __shared__ int sh_max[2];
    const int n = blockIdx.y;
    const int tid = fct::block_rank(), nt = fct::block_size();
    const fct::i64 plane = (fct::i64)h * w, base = n * plane;
    const int c_std = n_hu + 1, c_grad = c_std + n_std + 1, c_lbp = c_grad + n_grad + 1;
    const int c_dense = c_lbp + n_lbp + 2, c_air = c_dense + n_dense + 1;
    FCT_ASSERT(c_air + n_air + 1 == ncounts && ncounts <= FEAT_MAX_COUNTS);
    const double* hu9 = edges;
    const double* std_num = hu9 + n_hu;
    const double* grad_sq = std_num + n_std;
    const double* lbp_rows = grad_sq + n_grad;
    const double* lbp_cols = lbp_rows + n_lbp;
    const double* S = s9 + base;
    const double* HS = hs + base;
    const double* HS2 = hs2 + base;
    const int* RD = run_dense + base;
    const int* RA = run_air + base;
    const P* img = pre + (has_image ? base : 0);
    const double size2 = (double)((2 * r + 1) * (2 * r + 1));
    for (int b = tid; b < ncounts; b += nt) sh[b] = 0u;
    if (tid < 2) sh_max[tid] = 0;
    __syncthreads();
    for (fct::i64 i = (fct::i64)blockIdx.x * nt + tid; i < plane; i += (fct::i64)gridDim.x * nt) {
        if (!lung[base + i]) continue;
        const int y = (int)(i / w), x = (int)(i - (fct::i64)y * w);
        atomicAdd(sh + feat::bin_edges(S[i], hu9, n_hu), 1u);
        // 5x5 deviation: column sums of the row sums, the CPU's order
        double s = 0.0, ss = 0.0;
        for (int dy = -r; dy <= r; ++dy) {
            const fct::i64 q = (fct::i64)feat::clampi(y + dy, 0, h - 1) * w + x;
            s = fct::add(s, HS[q]);
            ss = fct::add(ss, HS2[q]);
        }
        const double num = fct::sub(fct::mul(size2, ss), fct::mul(s, s));
        atomicAdd(sh + c_std + feat::bin_edges(num, std_num, n_std), 1u);
        // Sobel of the 3x3 sums, nearest-edge borders
        const fct::i64 ym = (fct::i64)(y > 0 ? y - 1 : 0) * w, y0 = (fct::i64)y * w;
        const fct::i64 yp = (fct::i64)(y < h - 1 ? y + 1 : h - 1) * w;
        const int xm = x > 0 ? x - 1 : 0, xp = x < w - 1 ? x + 1 : w - 1;
        const double gx = fct::sub(fct::add(fct::add(S[ym + xp], fct::mul(2.0, S[y0 + xp])), S[yp + xp]),
                                   fct::add(fct::add(S[ym + xm], fct::mul(2.0, S[y0 + xm])), S[yp + xm]));
        const double gy = fct::sub(fct::add(fct::add(S[yp + xm], fct::mul(2.0, S[yp + x])), S[yp + xp]),
                                   fct::add(fct::add(S[ym + xm], fct::mul(2.0, S[ym + x])), S[ym + xp]));
        const double g2 = fct::add(fct::mul(gx, gx), fct::mul(gy, gy));
        atomicAdd(sh + c_grad + feat::bin_edges(g2, grad_sq, n_grad), 1u);
        if (has_image) {
            atomicAdd(sh + c_lbp + feat::lbp_uniform(img, y, x, h, w, lbp_rows, lbp_cols, n_lbp), 1u);
        }
        if (RD[i] > 0) {
            const int d = feat::chessboard(RD, y, x, h, w);
            atomicAdd(sh + c_dense + feat::bin_steps(d, steps, n_dense), 1u);
            atomicMax(sh_max, d);
        }
        if (RA[i] > 0) {
            const int d = feat::chessboard(RA, y, x, h, w);
            atomicAdd(sh + c_air + feat::bin_steps(d, steps + n_dense, n_air), 1u);
            atomicMax(sh_max + 1, d);
        }
    }
    __syncthreads();
    for (int b = tid; b < ncounts; b += nt) {
        const unsigned int c = sh[b];
        if (c) atomicAdd(counts + (fct::i64)n * ncounts + b, (unsigned long long)c);
    }
    if (tid < 2 && sh_max[tid] > 0) atomicMax(maxima + 2 * n + tid, sh_max[tid]);
}

// feat_finalize: the feature row of each slice from its counts, with the
// CPU's arithmetic (fractions = count * (1 / lung pixels); distances / scale;
// all zero without a lung field). offsets: the group start columns and the
// row length (fastct.ml.spec.FeatureSpec.offsets). The image columns are left
// to feat_grid_means when has_image, else zeroed. Grid (blocks,) over slices.
__global__ void feat_finalize(const unsigned long long* __restrict__ counts, int ncounts,
                              const int* __restrict__ maxima, const unsigned long long* __restrict__ mask_counts,
                              const long long* __restrict__ offsets, int n_hu, int n_std, int n_grad, int n_lbp,
                              int n_dense, int n_air, int has_image, int h, int w, double scale,
                              double* __restrict__ out, int ncols, int slices) {
    for (int n = blockIdx.x * blockDim.x + threadIdx.x; n < slices; n += gridDim.x * blockDim.x) {
        double* row = out + (fct::i64)n * ncols;
        const int o_image = (int)offsets[0], o_masks = (int)offsets[1], o_hu = (int)offsets[2];
        const int o_dense = (int)offsets[3], o_air = (int)offsets[4], o_std = (int)offsets[5];
        const int o_grad = (int)offsets[6], o_lbp = (int)offsets[7];
        FCT_ASSERT(offsets[8] == ncols);
        for (int j = 0; j < ncols; ++j) {
            if (has_image && j >= o_image && j < o_masks) continue;
            row[j] = 0.0;
        }
        const unsigned long long n_body = mask_counts[2 * n], n_lung = mask_counts[2 * n + 1];
        row[o_masks] = fct::div((double)n_body, (double)((fct::i64)h * w));
        row[o_masks + 1] = n_body > 0 ? fct::div((double)n_lung, (double)n_body) : 0.0;
        if (n_lung == 0) continue;
        const double inv = fct::div(1.0, (double)n_lung);
        const unsigned long long* c = counts + (fct::i64)n * ncounts;
        const int c_std = n_hu + 1, c_grad = c_std + n_std + 1, c_lbp = c_grad + n_grad + 1;
        const int c_dense = c_lbp + n_lbp + 2, c_air = c_dense + n_dense + 1;
        for (int k = 0; k <= n_hu; ++k) row[o_hu + k] = fct::mul((double)c[k], inv);
        for (int k = 0; k <= n_std; ++k) row[o_std + k] = fct::mul((double)c[c_std + k], inv);
        for (int k = 0; k <= n_grad; ++k) row[o_grad + k] = fct::mul((double)c[c_grad + k], inv);
        if (has_image) {
            for (int k = 0; k < n_lbp + 2; ++k) row[o_lbp + k] = fct::mul((double)c[c_lbp + k], inv);
        }
        // pixels at distance >= steps[k] are those binned above k
        unsigned long long above = 0;
        for (int k = n_dense - 1; k >= 0; --k) {
            above += c[c_dense + k + 1];
            row[o_dense + k] = fct::mul((double)above, inv);
        }
        row[o_dense + n_dense] = fct::div((double)maxima[2 * n], scale);
        above = 0;
        for (int k = n_air - 1; k >= 0; --k) {
            above += c[c_air + k + 1];
            row[o_air + k] = fct::mul((double)above, inv);
        }
        row[o_air + n_air] = fct::div((double)maxima[2 * n + 1], scale);
    }
}

// feat_grid_means: area means of the preprocessed slice over a grid x grid
// partition (block edges at i * size // grid). One thread per (cell, slice)
// adds the cell in the CPU's order (rows, then columns), so float images give
// its bits too. Grid (blocks,) over slices * grid * grid cells.
template <typename P>
__global__ void feat_grid_means(const P* __restrict__ pre, int h, int w, int grid, double* __restrict__ out,
                                int ncols, int o_image, int cells) {
    for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < cells; c += gridDim.x * blockDim.x) {
        const int n = c / (grid * grid), ij = c - n * grid * grid;
        const int i = ij / grid, j = ij - i * grid;
        const int y0 = i * h / grid, y1 = (i + 1) * h / grid;
        const int x0 = j * w / grid, x1 = (j + 1) * w / grid;
        const P* img = pre + (fct::i64)n * h * w;
        double s = 0.0;
        for (int y = y0; y < y1; ++y) {
            const P* line = img + (fct::i64)y * w;
            for (int x = x0; x < x1; ++x) s = fct::add(s, (double)line[x]);
        }
        out[(fct::i64)n * ncols + o_image + ij] = fct::div(s, (double)((y1 - y0) * (x1 - x0)));
    }
}

#if defined(__CUDACC__) && !defined(__CUDACC_RTC__)
extern void* const fastct_features_instances[];  // external linkage: no unused warning
void* const fastct_features_instances[] = {
    // FASTCT-INSTANTIATIONS-BEGIN
    (void*)&feat_prepare<unsigned char>,
    (void*)&feat_prepare<unsigned short>,
    (void*)&feat_prepare<short>,
    (void*)&feat_prepare<float>,
    (void*)&feat_prepare<double>,
    (void*)&feat_row_sums<unsigned char>,
    (void*)&feat_row_sums<unsigned short>,
    (void*)&feat_row_sums<short>,
    (void*)&feat_row_sums<float>,
    (void*)&feat_row_sums<double>,
    (void*)&feat_histograms<unsigned char>,
    (void*)&feat_histograms<unsigned short>,
    (void*)&feat_histograms<short>,
    (void*)&feat_histograms<float>,
    (void*)&feat_histograms<double>,
    (void*)&feat_grid_means<unsigned char>,
    (void*)&feat_grid_means<unsigned short>,
    (void*)&feat_grid_means<short>,
    (void*)&feat_grid_means<float>,
    (void*)&feat_grid_means<double>,
    (void*)&ccl_merge,
    (void*)&ccl_flatten,
    (void*)&feat_mark_seeds,
    (void*)&feat_body,
    (void*)&feat_count,
    (void*)&feat_big,
    (void*)&feat_filled,
    (void*)&feat_box_rows,
    (void*)&feat_box_cols,
    (void*)&feat_row_runs,
    (void*)&feat_finalize,
    // FASTCT-INSTANTIATIONS-END
};
#endif
