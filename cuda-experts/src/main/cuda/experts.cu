// Routed-expert kernels of moe-mesh's CUDA backend: out = down(silu(gate x) * up x) for every group of a routed
// batch, one launch per stage for all groups. Weights and inputs are bf16, accumulation is fp32.
//
// Two paths, chosen per group by its row count (CudaExperts splits the group table in two):
//   small (1..8 rows, decode): bandwidth-bound; a warp streams two weight rows once with 16-byte loads and
//     multiplies them against every row of the group; the SiLU product stays fp32 between the stages.
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
constexpr int SMALL_DOWN_COLS = 2;  // output columns per warp in the bandwidth path

constexpr int BM = 128;              // rows of a tile
constexpr int BN = 128;              // weight rows of a tile (gate/up: 64 gate + 64 up)
constexpr int BK = 32;
constexpr int STAGES = 4;
constexpr int LDS = BK + 8;          // padded shared row: 80 bytes, so ldmatrix's 8 rows hit 8 different banks
constexpr int STAGE_ELEMS = (BM + BN) * LDS;

__device__ __forceinline__ float lo(uint32_t w) { return __uint_as_float(w << 16); }
__device__ __forceinline__ float hi(uint32_t w) { return __uint_as_float(w & 0xffff0000u); }

__device__ __forceinline__ float siluMul(float g, float u) { return g / (1.f + expf(-g)) * u; }

__device__ __forceinline__ float dot8(uint4 w, const float (&x)[8], float acc) {
    acc = fmaf(lo(w.x), x[0], acc);
    acc = fmaf(hi(w.x), x[1], acc);
    acc = fmaf(lo(w.y), x[2], acc);
    acc = fmaf(hi(w.y), x[3], acc);
    acc = fmaf(lo(w.z), x[4], acc);
    acc = fmaf(hi(w.z), x[5], acc);
    acc = fmaf(lo(w.w), x[6], acc);
    acc = fmaf(hi(w.w), x[7], acc);
    return acc;
}

// Sums each accumulator over the warp; afterwards every lane holds every total.
template <int W, int R>
__device__ __forceinline__ void warpSum(float (&acc)[W][R]) {
#pragma unroll
    for (int j = 0; j < W; j++) {
#pragma unroll
        for (int r = 0; r < R; r++) {
#pragma unroll
            for (int o = 16; o > 0; o >>= 1) acc[j][r] += __shfl_xor_sync(0xffffffffu, acc[j][r], o);
        }
    }
}

// act[row, col] = silu(gate_col . x_row) * (up_col . x_row) for the R rows of group g: one warp, two weight rows.
template <int R>
__device__ __forceinline__ void smallGateUp(const Group& g, const uint16_t* __restrict__ x, float* __restrict__ act,
                                            int hidden, int inter, int col, int lane) {
    const uint4* w[2] = {reinterpret_cast<const uint4*>(g.w13 + (size_t)col * hidden),
                         reinterpret_cast<const uint4*>(g.w13 + (size_t)(inter + col) * hidden)};
    const int chunks = hidden / 8;
    const uint4* xr = reinterpret_cast<const uint4*>(x + (size_t)g.rowStart * hidden);
    float acc[2][R] = {};
#pragma unroll 4
    for (int c = lane; c < chunks; c += 32) {
        uint4 wv[2] = {__ldg(w[0] + c), __ldg(w[1] + c)};
#pragma unroll
        for (int r = 0; r < R; r++) {
            uint4 v = __ldg(xr + (size_t)r * chunks + c);
            float xf[8] = {lo(v.x), hi(v.x), lo(v.y), hi(v.y), lo(v.z), hi(v.z), lo(v.w), hi(v.w)};
            acc[0][r] = dot8(wv[0], xf, acc[0][r]);
            acc[1][r] = dot8(wv[1], xf, acc[1][r]);
        }
    }
    warpSum(acc);
#pragma unroll
    for (int r = 0; r < R; r++) {
        if (lane == r) act[(size_t)(g.rowStart + r) * inter + col] = siluMul(acc[0][r], acc[1][r]);
    }
}

// out[row, col + j] = down_{col+j} . act_row, j < 2, for the R rows of group g: one warp, two weight rows.
template <int R>
__device__ __forceinline__ void smallDown(const Group& g, const float* __restrict__ act, float* __restrict__ out,
                                          int hidden, int inter, int col, int lane) {
    const uint4* w[2] = {reinterpret_cast<const uint4*>(g.w2 + (size_t)col * inter),
                         reinterpret_cast<const uint4*>(g.w2 + (size_t)min(col + 1, hidden - 1) * inter)};
    const int chunks = inter / 8;
    const float4* ar = reinterpret_cast<const float4*>(act + (size_t)g.rowStart * inter);
    float acc[2][R] = {};
#pragma unroll 4
    for (int c = lane; c < chunks; c += 32) {
        uint4 wv[2] = {__ldg(w[0] + c), __ldg(w[1] + c)};
#pragma unroll
        for (int r = 0; r < R; r++) {
            float4 a0 = __ldg(ar + (size_t)r * (inter / 4) + 2 * c);
            float4 a1 = __ldg(ar + (size_t)r * (inter / 4) + 2 * c + 1);
            float xf[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
            acc[0][r] = dot8(wv[0], xf, acc[0][r]);
            acc[1][r] = dot8(wv[1], xf, acc[1][r]);
        }
    }
    warpSum(acc);
#pragma unroll
    for (int r = 0; r < R; r++) {
        if (lane == r) {
            float* o = out + (size_t)(g.rowStart + r) * hidden + col;
            o[0] = acc[0][r];
            if (col + 1 < hidden) o[1] = acc[1][r];
        }
    }
}

template <int N>
struct Rows {
    static constexpr int value = N;
};

// Calls f(Rows<rows>{}) for rows in 1..8, so that each row count of the bandwidth path gets its own unrolled code.
template <typename F>
__device__ __forceinline__ void withRows(int rows, F&& f) {
    switch (rows) {
        case 1: f(Rows<1>{}); break;
        case 2: f(Rows<2>{}); break;
        case 3: f(Rows<3>{}); break;
        case 4: f(Rows<4>{}); break;
        case 5: f(Rows<5>{}); break;
        case 6: f(Rows<6>{}); break;
        case 7: f(Rows<7>{}); break;
        default: f(Rows<8>{}); break;
    }
}

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

// grid (ceil(inter / 8 warps), groups): x (rows, hidden) bf16 -> act (rows, inter) fp32.
extern "C" __global__ void __launch_bounds__(THREADS) small_gate_up(const Group* __restrict__ groups,
                                                                     const uint16_t* __restrict__ x,
                                                                     float* __restrict__ act, int hidden, int inter) {
    const Group g = groups[blockIdx.y];
    const int lane = threadIdx.x % 32;
    const int col = blockIdx.x * WARPS + threadIdx.x / 32;
    if (col >= inter) return;
    withRows(g.rows, [&](auto rows) { smallGateUp<decltype(rows)::value>(g, x, act, hidden, inter, col, lane); });
}

// grid (ceil(hidden / (8 warps * 2)), groups): act (rows, inter) fp32 -> out (rows, hidden) fp32.
extern "C" __global__ void __launch_bounds__(THREADS) small_down(const Group* __restrict__ groups,
                                                                  const float* __restrict__ act,
                                                                  float* __restrict__ out, int hidden, int inter) {
    const Group g = groups[blockIdx.y];
    const int lane = threadIdx.x % 32;
    const int col = (blockIdx.x * WARPS + threadIdx.x / 32) * SMALL_DOWN_COLS;
    if (col >= hidden) return;
    withRows(g.rows, [&](auto rows) { smallDown<decltype(rows)::value>(g, act, out, hidden, inter, col, lane); });
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
