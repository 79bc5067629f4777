#!/usr/bin/env python3
"""Writes cuda_decode.svg: the CUDA expert kernels' weight bytes read per second against rows per expert, before and
after the decode path moved to tensor cores (commit 68143cf), beside PyTorch's bmm and the device-to-device copy, on
one H200 (docs/benchmarks/cuda-h200-2026-12-04/). Plain SVG, no plotting library needed:
python3 docs/plots/cuda_decode.py"""
import json, math, pathlib

DATA = pathlib.Path(__file__).resolve().parent.parent / "benchmarks" / "cuda-h200-2026-12-04"
ROWS = [1, 2, 4, 8]
W, H, L, R, T, B = 640, 360, 60, 230, 30, 50


def lines(name):
    return [json.loads(l) for l in (DATA / name).read_text().splitlines() if l.startswith("{")]


def series():
    """(label, colour, dash, {rows: GB/s}): the kernel A/B's mean of its two rounds per build, PyTorch's bmm."""
    ab = {}
    build = None
    for j in lines("decode-kernel-ab.jsonl"):
        if "round" in j:
            build = j["build"]
        elif j.get("bench") == "decode":
            ab.setdefault((j["shape"], build), {}).setdefault(j["rows_per_expert"], []).append(j["weight_gb_per_s"])
    torch = {}
    for j in lines("final-torch.jsonl"):
        if j["bench"] == "torch_decode":
            torch.setdefault(j["shape"], {})[j["rows_per_expert"]] = j["weight_gb_per_s"]
    out = []
    for shape, colour in (("v3", "#c33"), ("bench", "#36c")):
        mean = lambda d: {r: sum(v) / len(v) for r, v in d.items()}
        out.append((f"{shape}: before (CUDA cores)", colour, "4 3", mean(ab[(shape, "old")])))
        out.append((f"{shape}: tensor cores", colour, "", mean(ab[(shape, "new")])))
        out.append((f"{shape}: torch.bmm", colour, "1 3", torch[shape]))
    return out


def main():
    data = series()
    copy = next(j for j in lines("final-java.jsonl") if j["bench"] == "copy")["gb_per_s"]
    top = 5000
    x_of = lambda r: L + (W - L - R) * math.log2(r) / math.log2(ROWS[-1])
    y_of = lambda v: H - B - (H - T - B) * v / top
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
           '<rect width="100%" height="100%" fill="white"/>',
           f'<text x="{W / 2}" y="18" text-anchor="middle" font-size="14">routed experts, decode-sized groups, H200: weight GB/s</text>',
           f'<line x1="{L}" y1="{H - B}" x2="{W - R}" y2="{H - B}" stroke="black"/>',
           f'<line x1="{L}" y1="{T}" x2="{L}" y2="{H - B}" stroke="black"/>',
           f'<text x="{(L + W - R) / 2}" y="{H - 12}" text-anchor="middle">rows per expert (64 V3 experts, 256 bench-shaped)</text>']
    for tick in range(0, top + 1, 1000):
        y = y_of(tick)
        out.append(f'<line x1="{L - 4}" y1="{y:.1f}" x2="{W - R}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{L - 8}" y="{y + 4:.1f}" text-anchor="end">{tick}</text>')
    out.append(f'<line x1="{L}" y1="{y_of(copy):.1f}" x2="{W - R}" y2="{y_of(copy):.1f}" stroke="#2a2" stroke-width="1.5"/>')
    out.append(f'<text x="{L + 4}" y="{y_of(copy) - 4:.1f}" fill="#2a2">device copy {copy:.0f}</text>')
    for r in ROWS:
        out.append(f'<text x="{x_of(r):.1f}" y="{H - B + 16}" text-anchor="middle">{r}</text>')
    for i, (name, colour, dash, values) in enumerate(data):
        pts = " ".join(f"{x_of(r):.1f},{y_of(values[r]):.1f}" for r in ROWS)
        out.append(f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="2" stroke-dasharray="{dash}"/>')
        for r in ROWS:
            out.append(f'<circle cx="{x_of(r):.1f}" cy="{y_of(values[r]):.1f}" r="2.5" fill="{colour}"/>')
        y = T + 20 + 20 * i
        out.append(f'<line x1="{W - R + 15}" y1="{y}" x2="{W - R + 40}" y2="{y}" stroke="{colour}" stroke-width="2" stroke-dasharray="{dash}"/>')
        out.append(f'<text x="{W - R + 45}" y="{y + 4}">{name}</text>')
    out.append('</svg>')
    pathlib.Path(__file__).with_name("cuda_decode.svg").write_text("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
