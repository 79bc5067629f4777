#!/usr/bin/env python3
"""Writes throughput.svg: decode tok/s against batch size, main e245dfa against today's engine with 256-bit and with
512-bit kernels (figures of one in-process run, docs/benchmarks.md). Plain SVG, no plotting library needed:
python3 docs/plots/throughput.py"""
import math, pathlib

# batch -> medians in the order of NAMES, tok/s; filled in from the run quoted in docs/benchmarks.md
NAMES = [("main e245dfa", "#888"), ("256-bit kernels", "#36c"), ("512-bit kernels (default here)", "#c33")]
SERIES = {
    1: (85.7, 72.6, 94.5),
    4: (110.5, 131.0, 185.2),
    8: (129.2, 170.5, 233.7),
    16: (159.1, 227.9, 322.5),
    32: (183.4, 289.7, 429.0),
}
W, H, L, R, T, B = 620, 340, 60, 210, 30, 50


def x_of(batch):
    return L + (W - L - R) * math.log2(batch) / math.log2(max(SERIES))


def y_of(v, top):
    return H - B - (H - T - B) * v / top


def main():
    top = max(max(p) for p in SERIES.values()) * 1.15
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
           '<rect width="100%" height="100%" fill="white"/>',
           f'<text x="{W / 2}" y="18" text-anchor="middle" font-size="14">decode tok/s, bench model, medians of 5 alternating rounds, one JVM</text>',
           f'<line x1="{L}" y1="{H - B}" x2="{W - R}" y2="{H - B}" stroke="black"/>',
           f'<line x1="{L}" y1="{T}" x2="{L}" y2="{H - B}" stroke="black"/>',
           f'<text x="{(L + W - R) / 2}" y="{H - 12}" text-anchor="middle">batch size (sequences decoding at once)</text>']
    step = 10 ** math.floor(math.log10(top / 4))
    tick = 0
    while tick <= top:
        y = y_of(tick, top)
        out.append(f'<line x1="{L - 4}" y1="{y:.1f}" x2="{W - R}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{L - 8}" y="{y + 4:.1f}" text-anchor="end">{tick:g}</text>')
        tick += step * (2 if top / step > 8 else 1)
    for b in SERIES:
        out.append(f'<text x="{x_of(b):.1f}" y="{H - B + 16}" text-anchor="middle">{b}</text>')
    for i, (name, colour) in enumerate(NAMES):
        pts = " ".join(f"{x_of(b):.1f},{y_of(v[i], top):.1f}" for b, v in SERIES.items())
        out.append(f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for b, v in SERIES.items():
            out.append(f'<circle cx="{x_of(b):.1f}" cy="{y_of(v[i], top):.1f}" r="3" fill="{colour}"/>')
            out.append(f'<text x="{x_of(b) + 6:.1f}" y="{y_of(v[i], top) - 6:.1f}" fill="{colour}">{v[i]:.0f}</text>')
        out.append(f'<line x1="{W - R + 15}" y1="{T + 20 + 20 * i}" x2="{W - R + 35}" y2="{T + 20 + 20 * i}" stroke="{colour}" stroke-width="2"/>')
        out.append(f'<text x="{W - R + 40}" y="{T + 24 + 20 * i}">{name}</text>')
    out.append('</svg>')
    pathlib.Path(__file__).with_name("throughput.svg").write_text("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
