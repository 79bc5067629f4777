// Routed-expert kernels of moe-mesh's CUDA backend: out = down(silu(gate x) * up x) for every group of a routed
// batch, one launch per stage for all groups. Weights and inputs are bf16, accumulation is fp32.
//
// Two paths, chosen per group by its row count (CudaExperts splits the group table in two):
//   small (1..8 rows, decode): bandwidth-bound; tensor cores with the group's rows as the n = 8 side of
//     mma.m16n8k16 and 16 weight rows as its m side, read straight from memory (64 contiguous bytes of a row a
//     lane per step), so each weight is read once and the arithmetic costs nothing; the SiLU product stays fp32
//     between the stages (the down stage multiplies its bf16 high and low parts, about 16 bits of it).
//   large (more rows): tensor cores (mma.sync m16n8k16 bf16, fp32 accumulate), 128x128x32 tiles fed by
//     cp.async through four shared-memory stages; the gate/up tile holds 64 gate rows and the 64 matching
//     up rows, so the epilogue applies silu(g) * u in registers and stores bf16 for the down GEMM.
// Regenerate the resources with ../../../build-kernels.sh after editing.

#include <cuda_bf16.h>
#include <stdint.h>

// One routed expert's rows in this batch; 32 bytes, written little-endian by CudaExperts (GroupTable.java).
struct Group {
    const uint16_t* w13;  // (2 * inter, hidden) bf16: gate_proj rows, then up_proj rows
    const uint16_t* w2;   // (hidden, inter) bf16: down_proj
    int rowStart;         // first row of the group in the batch
    int rows;
    int tileStart;        // large path: m-tiles of the groups before this one in its launch
    int unused;
};

constexpr int THREADS = 256;
constexpr int WARPS = THREADS / 32;
constexpr int SMALL_COLS = 8;       // act columns (gate_up) per warp in the bandwidth path; 16 output columns (down)

constexpr int BM = 128;              // rows of a tile
constexpr int BN = 128;              // weight rows of a tile (gate/up: 64 gate + 64 up)
constexpr int BK = 32;
constexpr int STAGES = 4;
constexpr int LDS = BK + 8;          // padded shared row: 80 bytes, so ldmatrix's 8 rows hit 8 different banks
constexpr int STAGE_ELEMS = (BM + BN) * LDS;

__device__ __forceinline__ float lo(uint32_t w) { return __uint_as_float(w << 16); }
__device__ __forceinline__ float hi(uint32_t w) { return __uint_as_float(w & 0xffff0000u); }

__device__ __forceinline__ float siluMul(float g, float u) { return g / (1.f + expf(-g)) * u; }

__device__ __forceinline__ uint32_t sharedAddress(const void* p) {
    return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// 16 bytes global -> shared without passing through registers; zero-filled when !valid.
__device__ __forceinline__ void copy16(uint16_t* dst, const uint16_t* src, bool valid) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(sharedAddress(dst)), "l"(src),
                 "r"(valid ? 16 : 0));
}

__device__ __forceinline__ void commitCopies() { asm volatile("cp.async.commit_group;\n" ::); }

template <int N>
__device__ __forceinline__ void waitCopies() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

__device__ __forceinline__ void loadMatrices(uint32_t (&r)[4], const uint16_t* p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(sharedAddress(p)));
}

__device__ __forceinline__ void mma16816(float (&c)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

// One 128-row tile of one group against BN weight rows: with GATE_UP, a (rows, hidden) = x and the result is
// silu(gate) * up as bf16 into act (rows, inter); otherwise a (rows, inter) = act and the result is fp32 out
// (rows, hidden). Tiles are numbered group by group, then by weight tile, then by row tile, so the row tiles
// sharing a weight tile run side by side and the weights come from memory once.
template <bool GATE_UP>
__device__ __forceinline__ void largeTile(const Group* __restrict__ groups, int nGroups, const uint16_t* __restrict__ a,
                                          void* __restrict__ result, int hidden, int inter) {
    extern __shared__ __align__(16) uint16_t smem[];
    __shared__ int tileGroup;
    const int K = GATE_UP ? hidden : inter;
    const int nTiles = GATE_UP ? (inter + BN / 2 - 1) / (BN / 2) : (hidden + BN - 1) / BN;
    const int tile = blockIdx.x;
    for (int i = threadIdx.x; i < nGroups; i += THREADS) {
        int first = groups[i].tileStart * nTiles;
        int count = (groups[i].rows + BM - 1) / BM * nTiles;
        if (tile >= first && tile < first + count) tileGroup = i;
    }
    __syncthreads();
    const Group g = groups[tileGroup];
    const int mTiles = (g.rows + BM - 1) / BM;
    const int local = tile - g.tileStart * nTiles;
    const int m0 = local % mTiles * BM;
    const int n0 = local / mTiles * (GATE_UP ? BN / 2 : BN);
    const int rows = min(BM, g.rows - m0);
    const uint16_t* aRows = a + (size_t)(g.rowStart + m0) * K;
    const uint16_t* w = GATE_UP ? g.w13 : g.w2;

    auto load = [&](int stage, int kTile) {
        uint16_t* sA = smem + stage * STAGE_ELEMS;
        uint16_t* sB = sA + BM * LDS;
        const int k0 = kTile * BK;
#pragma unroll
        for (int i = threadIdx.x; i < BM * BK / 8; i += THREADS) {
            int r = i / (BK / 8), k = k0 + i % (BK / 8) * 8;
            bool ok = r < rows && k < K;
            copy16(sA + r * LDS + k - k0, ok ? aRows + (size_t)r * K + k : a, ok);
        }
#pragma unroll
        for (int i = threadIdx.x; i < BN * BK / 8; i += THREADS) {
            int r = i / (BK / 8), k = k0 + i % (BK / 8) * 8;
            int wRow;
            bool ok;
            if (GATE_UP) {
                int col = n0 + r % (BN / 2);
                ok = col < inter;
                wRow = (r < BN / 2 ? 0 : inter) + col;
            } else {
                wRow = n0 + r;
                ok = wRow < hidden;
            }
            ok = ok && k < K;
            copy16(sB + r * LDS + k - k0, ok ? w + (size_t)wRow * K + k : w, ok);
        }
    };

    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int wm = warp / 4, wn = warp % 4;  // 2 x 4 warps, each 64 rows x 32 weight rows
    float acc[4][4][4] = {};
    const int kTiles = (K + BK - 1) / BK;
#pragma unroll
    for (int s = 0; s < STAGES - 1; s++) {
        if (s < kTiles) load(s, s);
        commitCopies();
    }
    for (int kt = 0; kt < kTiles; kt++) {
        waitCopies<STAGES - 2>();
        __syncthreads();  // tile kt is in; every warp is done with the stage the next load overwrites
        if (kt + STAGES - 1 < kTiles) load((kt + STAGES - 1) % STAGES, kt + STAGES - 1);
        commitCopies();
        const uint16_t* sA = smem + (kt % STAGES) * STAGE_ELEMS;
        const uint16_t* sB = sA + BM * LDS;
#pragma unroll
        for (int kk = 0; kk < BK; kk += 16) {
            uint32_t af[4][4], bf[4][2];
#pragma unroll
            for (int mi = 0; mi < 4; mi++) {
                loadMatrices(af[mi], sA + (wm * 64 + mi * 16 + (lane & 15)) * LDS + kk + (lane >> 4) * 8);
            }
#pragma unroll
            for (int p = 0; p < 2; p++) {
                // gate/up: pair 0 = gate rows, pair 1 = the up rows of the same act columns
                int row = (GATE_UP ? p * (BN / 2) + wn * 16 : wn * 32 + p * 16) + (lane & 7) + (lane >> 4) * 8;
                uint32_t r[4];
                loadMatrices(r, sB + row * LDS + kk + ((lane >> 3) & 1) * 8);
                bf[2 * p][0] = r[0];
                bf[2 * p][1] = r[1];
                bf[2 * p + 1][0] = r[2];
                bf[2 * p + 1][1] = r[3];
            }
#pragma unroll
            for (int mi = 0; mi < 4; mi++) {
#pragma unroll
                for (int ni = 0; ni < 4; ni++) mma16816(acc[mi][ni], af[mi], bf[ni]);
            }
        }
    }
    waitCopies<0>();

#pragma unroll
    for (int mi = 0; mi < 4; mi++) {
#pragma unroll
        for (int half = 0; half < 2; half++) {
            int r = wm * 64 + mi * 16 + (lane >> 2) + half * 8;
            if (r >= rows) continue;
            size_t row = (size_t)(g.rowStart + m0 + r);
            if (GATE_UP) {
#pragma unroll
                for (int ni = 0; ni < 2; ni++) {
                    int col = n0 + wn * 16 + ni * 8 + (lane & 3) * 2;
                    if (col >= inter) continue;
                    __nv_bfloat162 v = __floats2bfloat162_rn(siluMul(acc[mi][ni][2 * half], acc[mi][ni + 2][2 * half]),
                                                             siluMul(acc[mi][ni][2 * half + 1], acc[mi][ni + 2][2 * half + 1]));
                    *reinterpret_cast<__nv_bfloat162*>(static_cast<uint16_t*>(result) + row * inter + col) = v;
                }
            } else {
#pragma unroll
                for (int ni = 0; ni < 4; ni++) {
                    int col = n0 + wn * 32 + ni * 8 + (lane & 3) * 2;
                    if (col >= hidden) continue;
                    *reinterpret_cast<float2*>(static_cast<float*>(result) + row * hidden + col) =
                        make_float2(acc[mi][ni][2 * half], acc[mi][ni][2 * half + 1]);
                }
            }
        }
    }
}

// The bandwidth path's products on tensor cores. In mma.m16n8k16, lane (g = lane / 4, q = lane % 4) holds the A
// elements of rows g and g + 8 at k slots 2q, 2q + 1 and 2q + 8, 2q + 9, and the B elements of column g at the
// same k slots. Here the lane reads 32 consecutive k (64 bytes of a bf16 row) instead, k0 + 32q .. k0 + 32q + 31,
// of its two weight rows and of its batch row, and gives the k slots of eight mma the k of those reads in order:
// the same permutation of k on both operands, so every product pairs the same weight and input as in memory. A
// step covers 128 k, a quad reading 256 contiguous bytes of each row, all loads issued before the first mma.
constexpr int STEP_K = 128;
constexpr int LANE_K = STEP_K / 4;

// c += the 8 mma of one step: w0 and w8 the lane's 32 k of weight rows g and g + 8, b the same k of its batch row
__device__ __forceinline__ void mmaStep(float (&c)[4], const uint4 (&w0)[4], const uint4 (&w8)[4],
                                        const uint32_t (&b)[16]) {
#pragma unroll
    for (int j = 0; j < 4; j++) {
        const uint32_t a1[4] = {w0[j].x, w8[j].x, w0[j].y, w8[j].y};
        const uint32_t b1[2] = {b[4 * j], b[4 * j + 1]};
        mma16816(c, a1, b1);
        const uint32_t a2[4] = {w0[j].z, w8[j].z, w0[j].w, w8[j].w};
        const uint32_t b2[2] = {b[4 * j + 2], b[4 * j + 3]};
        mma16816(c, a2, b2);
    }
}

// The lane's 32 k of a bf16 row at p (k0 + 32q of the row): four 16-byte loads, zeros past K (a multiple of 8).
__device__ __forceinline__ void loadRow(uint4 (&r)[4], const uint16_t* p, int k, int K, bool valid) {
#pragma unroll
    for (int j = 0; j < 4; j++) {
        r[j] = valid && k + 8 * j < K ? __ldg(reinterpret_cast<const uint4*>(p) + j) : make_uint4(0, 0, 0, 0);
    }
}

// grid (ceil(inter / (8 warps * 8)), groups): x (rows, hidden) bf16 -> act (rows, inter) fp32. A warp takes 8 act
// columns: A rows 0..7 are their gate rows, rows 8..15 their up rows, so a lane ends with gate and up of one column.
extern "C" __global__ void __launch_bounds__(THREADS) small_gate_up(const Group* __restrict__ groups,
                                                                     const uint16_t* __restrict__ x,
                                                                     float* __restrict__ act, int hidden, int inter) {
    const Group grp = groups[blockIdx.y];
    const int lane = threadIdx.x % 32, g = lane / 4, q = lane % 4;
    const int col0 = (blockIdx.x * WARPS + threadIdx.x / 32) * SMALL_COLS;
    if (col0 >= inter) return;  // inter is a multiple of 8: a warp's columns are all in or all out
    const uint16_t* gate = grp.w13 + (size_t)(col0 + g) * hidden + LANE_K * q;
    const uint16_t* up = grp.w13 + (size_t)(inter + col0 + g) * hidden + LANE_K * q;
    const bool hasRow = g < grp.rows;
    const uint16_t* xr = x + (size_t)(grp.rowStart + (hasRow ? g : 0)) * hidden + LANE_K * q;
    float c[4] = {};
    // every lane takes part in each mma; k past hidden (a multiple of 8) and rows past the group's add zeros
    for (int k0 = 0; k0 < hidden; k0 += STEP_K) {
        const int k = k0 + LANE_K * q;
        uint4 w0[4], w8[4], v[4];
        loadRow(w0, gate + k0, k, hidden, true);
        loadRow(w8, up + k0, k, hidden, true);
        loadRow(v, xr + k0, k, hidden, hasRow);
        const uint32_t b[16] = {v[0].x, v[0].y, v[0].z, v[0].w, v[1].x, v[1].y, v[1].z, v[1].w,
                                v[2].x, v[2].y, v[2].z, v[2].w, v[3].x, v[3].y, v[3].z, v[3].w};
        mmaStep(c, w0, w8, b);
    }
    const int row = 2 * q;  // c[0], c[1]: gate of column col0 + g for rows 2q, 2q + 1; c[2], c[3]: up
    if (row < grp.rows) act[(size_t)(grp.rowStart + row) * inter + col0 + g] = siluMul(c[0], c[2]);
    if (row + 1 < grp.rows) act[(size_t)(grp.rowStart + row + 1) * inter + col0 + g] = siluMul(c[1], c[3]);
}

// a bf16x2 register's bits: .x in the low half, as mma reads the lower k of a pair
__device__ __forceinline__ uint32_t bits(__nv_bfloat162 v) {
    return (uint32_t)__bfloat16_as_ushort(v.x) | ((uint32_t)__bfloat16_as_ushort(v.y) << 16);
}

// grid (ceil(hidden / (8 warps * 16)), groups): act (rows, inter) fp32 -> out (rows, hidden) fp32. A warp takes 16
// output columns; each act value enters as its bf16 part plus the bf16 of what that part leaves out (about 16 bits).
extern "C" __global__ void __launch_bounds__(THREADS) small_down(const Group* __restrict__ groups,
                                                                  const float* __restrict__ act,
                                                                  float* __restrict__ out, int hidden, int inter) {
    const Group grp = groups[blockIdx.y];
    const int lane = threadIdx.x % 32, g = lane / 4, q = lane % 4;
    const int col0 = (blockIdx.x * WARPS + threadIdx.x / 32) * 2 * SMALL_COLS;
    if (col0 >= hidden) return;
    // hidden is a multiple of 8: the upper 8 columns of the last warp may be past it, and read row col0 + g instead
    const bool upperIn = col0 + 8 < hidden;
    const uint16_t* w0p = grp.w2 + (size_t)(col0 + g) * inter + LANE_K * q;
    const uint16_t* w8p = grp.w2 + (size_t)(upperIn ? col0 + 8 + g : col0 + g) * inter + LANE_K * q;
    const bool hasRow = g < grp.rows;
    const float* ar = act + (size_t)(grp.rowStart + (hasRow ? g : 0)) * inter + LANE_K * q;
    float c[4] = {};
    for (int k0 = 0; k0 < inter; k0 += STEP_K) {
        const int k = k0 + LANE_K * q;
        uint4 w0[4], w8[4];
        loadRow(w0, w0p + k0, k, inter, true);
        loadRow(w8, w8p + k0, k, inter, true);
        float4 a[8];
#pragma unroll
        for (int j = 0; j < 8; j++) {
            a[j] = hasRow && k + 4 * j < inter ? __ldg(reinterpret_cast<const float4*>(ar + k0) + j)
                                               : make_float4(0.f, 0.f, 0.f, 0.f);
        }
        uint32_t hi[16], lo[16];
#pragma unroll
        for (int j = 0; j < 8; j++) {
            __nv_bfloat162 h0 = __floats2bfloat162_rn(a[j].x, a[j].y);
            __nv_bfloat162 h1 = __floats2bfloat162_rn(a[j].z, a[j].w);
            hi[2 * j] = bits(h0);
            hi[2 * j + 1] = bits(h1);
            lo[2 * j] = bits(__floats2bfloat162_rn(a[j].x - __low2float(h0), a[j].y - __high2float(h0)));
            lo[2 * j + 1] = bits(__floats2bfloat162_rn(a[j].z - __low2float(h1), a[j].w - __high2float(h1)));
        }
        mmaStep(c, w0, w8, hi);
        mmaStep(c, w0, w8, lo);
    }
    const int row = 2 * q;  // c[0], c[1]: column col0 + g for rows 2q, 2q + 1; c[2], c[3]: column col0 + 8 + g
    float* o = out + (size_t)(grp.rowStart + row) * hidden + col0 + g;
    if (row < grp.rows) {
        o[0] = c[0];
        if (upperIn) o[8] = c[2];
    }
    if (row + 1 < grp.rows) {
        o[hidden] = c[1];
        if (upperIn) o[hidden + 8] = c[3];
    }
}

// grid (m-tiles * ceil(inter / 64)), 81920 bytes of dynamic shared memory: x bf16 -> act (rows, inter) bf16.
extern "C" __global__ void __launch_bounds__(THREADS, 2) large_gate_up(const Group* __restrict__ groups, int nGroups,
                                                                        const uint16_t* __restrict__ x,
                                                                        uint16_t* __restrict__ act, int hidden, int inter) {
    largeTile<true>(groups, nGroups, x, act, hidden, inter);
}

// grid (m-tiles * ceil(hidden / 128)), 81920 bytes of dynamic shared memory: act bf16 -> out (rows, hidden) fp32.
extern "C" __global__ void __launch_bounds__(THREADS, 2) large_down(const Group* __restrict__ groups, int nGroups,
                                                                     const uint16_t* __restrict__ act,
                                                                     float* __restrict__ out, int hidden, int inter) {
    largeTile<false>(groups, nGroups, act, out, hidden, inter);
}
