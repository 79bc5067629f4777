"""PyTorch's bf16 matmuls on the shapes CudaExpertsBench runs, and the table comparing the two.

Timing (one GPU, prints one JSON object a line, as CudaExpertsBench does):
    python3 cuda-experts/bench/torch_reference.py > torch.jsonl
Comparison of the two outputs of one run:
    python3 cuda-experts/bench/torch_reference.py --compare java.jsonl torch.jsonl

For each grouped shape it times the two expert matmuls alone (x @ [gate; up]^T, then act @ down^T) in two ways,
torch.bmm over the experts stacked (one call per matmul) and a Python loop of torch.matmul per expert, and the
whole FFN through bmm with silu(g) * u between. The comparison divides our kernels' TFLOP/s (whole FFN,
SiLU epilogue included) by the faster of the two matmul-only figures, so the ratio does not flatter us.
"""
import json
import statistics
import sys

SHAPES = [("bench", 1024, 512, 32, 256), ("v3", 7168, 2048, 16, 64)]  # name, hidden, inter, grouped, decode experts
TOKENS_PER_EXPERT = [256, 512, 1024]
DECODE_ROWS = [1, 2, 4, 8]
# datasheet HBM bandwidth by the name PyTorch gives the device; the comparison omits the column for others
HBM_SPEC_GB_PER_S = {"H200": 4800, "H100": 3350}


def median_ms(torch, fn, warmup=3, repeats=20):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = torch.cuda.Event(enable_timing=True)
        stop = torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop))
    return statistics.median(times)


def emit(**fields):
    print(json.dumps(fields), flush=True)


def time_torch():
    import torch
    import torch.nn.functional as F

    dev = torch.device("cuda")
    emit(bench="torch_device", name=torch.cuda.get_device_name(0), torch=torch.__version__)
    a = torch.empty(1 << 30, dtype=torch.uint8, device=dev)
    b = torch.empty_like(a)
    ms = median_ms(torch, lambda: b.copy_(a))
    emit(bench="torch_copy", bytes=2 << 30, ms=ms, gb_per_s=(2 << 30) / ms / 1e6)
    del a, b
    m = torch.randn(8192, 8192, dtype=torch.bfloat16, device=dev)
    ms = median_ms(torch, lambda: m @ m)
    emit(bench="torch_peak_matmul", n=8192, ms=ms, tflops=2 * 8192 ** 3 / ms / 1e9)
    del m

    for name, hidden, inter, grouped, decode in SHAPES:
        def weights(experts):
            w13 = torch.randn(experts, 2 * inter, hidden, dtype=torch.bfloat16, device=dev) * hidden ** -0.5
            w2 = torch.randn(experts, hidden, inter, dtype=torch.bfloat16, device=dev) * inter ** -0.5
            return w13, w2

        w13, w2 = weights(grouped)
        for tokens in TOKENS_PER_EXPERT:
            x = torch.rand(grouped, tokens, hidden, dtype=torch.bfloat16, device=dev) * 2 - 1
            act = torch.rand(grouped, tokens, inter, dtype=torch.bfloat16, device=dev) * 2 - 1
            flop = 6 * grouped * tokens * hidden * inter

            def bmm():
                torch.bmm(x, w13.mT)
                torch.bmm(act, w2.mT)

            def loop():
                for e in range(grouped):
                    torch.matmul(x[e], w13[e].T)
                    torch.matmul(act[e], w2[e].T)

            def ffn():
                h = torch.bmm(x, w13.mT)
                g, u = h.split(inter, dim=-1)
                torch.bmm(F.silu(g) * u, w2.mT)

            bmm_ms, loop_ms, ffn_ms = median_ms(torch, bmm), median_ms(torch, loop), median_ms(torch, ffn)
            emit(bench="torch_grouped", shape=name, hidden=hidden, inter=inter, experts=grouped,
                 tokens_per_expert=tokens, bmm_ms=bmm_ms, bmm_tflops=flop / bmm_ms / 1e9, loop_ms=loop_ms,
                 loop_tflops=flop / loop_ms / 1e9, ffn_ms=ffn_ms, ffn_tflops=flop / ffn_ms / 1e9)
            del x, act
        del w13, w2

        w13, w2 = weights(decode)
        for rows in DECODE_ROWS:
            x = torch.rand(decode, rows, hidden, dtype=torch.bfloat16, device=dev) * 2 - 1
            act = torch.rand(decode, rows, inter, dtype=torch.bfloat16, device=dev) * 2 - 1

            def bmm():
                torch.bmm(x, w13.mT)
                torch.bmm(act, w2.mT)

            ms = median_ms(torch, bmm)
            emit(bench="torch_decode", shape=name, hidden=hidden, inter=inter, experts=decode, rows_per_expert=rows,
                 bmm_ms=ms, weight_gb_per_s=6 * decode * hidden * inter / ms / 1e6)
        del w13, w2
        torch.cuda.empty_cache()


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.startswith("{")]


def compare(ours_path, torch_path):
    ours, ref = load(ours_path), load(torch_path)
    copy = next(r for r in ours if r["bench"] == "copy")["gb_per_s"]
    torch_copy = next(r for r in ref if r["bench"] == "torch_copy")["gb_per_s"]
    peak = next(r for r in ref if r["bench"] == "torch_peak_matmul")["tflops"]
    print(f"device copy: ours {copy:.0f} GB/s, torch {torch_copy:.0f} GB/s; torch 8192^3 bf16 matmul {peak:.0f} TFLOP/s")
    print("grouped FFN        experts tokens/e  ours TFLOP/s  torch bmm  torch loop  torch ffn  ours/best-matmul")
    for r in (r for r in ours if r["bench"] == "grouped"):
        t = next(t for t in ref if t["bench"] == "torch_grouped" and t["shape"] == r["shape"]
                 and t["tokens_per_expert"] == r["tokens_per_expert"])
        best = max(t["bmm_tflops"], t["loop_tflops"])
        print(f"{r['shape']:6} {r['hidden']:5}x{r['inter']:<5} {r['experts']:4} {r['tokens_per_expert']:8} "
              f"{r['tflops']:12.1f} {t['bmm_tflops']:10.1f} {t['loop_tflops']:11.1f} {t['ffn_tflops']:10.1f} "
              f"{100 * r['tflops'] / best:14.0f} %")
    name = next(r for r in ref if r["bench"] == "torch_device")["name"]
    spec = next((v for k, v in HBM_SPEC_GB_PER_S.items() if k in name), None)
    spec_head = f"  % of {spec / 1000:.2f} TB/s" if spec else ""
    print(f"decode             experts rows/e  ours GB/s  % of copy{spec_head}  torch bmm GB/s")
    for r in (r for r in ours if r["bench"] == "decode"):
        t = next(t for t in ref if t["bench"] == "torch_decode" and t["shape"] == r["shape"]
                 and t["rows_per_expert"] == r["rows_per_expert"])
        gbs = r["weight_gb_per_s"]
        spec_cell = f" {100 * gbs / spec:13.0f} %" if spec else ""
        print(f"{r['shape']:6} {r['hidden']:5}x{r['inter']:<5} {r['experts']:4} {r['rows_per_expert']:6} {gbs:10.0f} "
              f"{100 * gbs / copy:9.0f} %{spec_cell} {t['weight_gb_per_s']:14.0f}")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--compare":
        compare(sys.argv[2], sys.argv[3])
    else:
        time_torch()
