#!/usr/bin/env python3
"""Writes speculative.svg: speculative decoding's speed-up against the drafts' acceptance rate, one line per batch
size, single-process engine on bench-shaped checkpoints with one MTP layer (figures of the 2026-12-05 run quoted in
docs/benchmarks.md, "The speed-up against acceptance and batch size"). Plain SVG, no plotting library needed:
python3 docs/plots/speculative.py"""
import math, pathlib

# batch -> [(acceptance rate, speculative / plain)] with one draft a step, one point per checkpoint
# (predictable 1.0, 0.85, 0.7, 0.5, random); the random checkpoint's drafting stops after 16 drafts
ONE_DRAFT = {
    1: [(1.0, 1.11), (0.918, 1.07), (0.774, 1.00), (0.541, 0.88), (0.0, 0.92)],
    4: [(1.0, 1.11), (0.844, 1.02), (0.71, 0.94), (0.518, 0.84), (0.0, 0.89)],
    8: [(1.0, 1.10), (0.862, 1.03), (0.70, 0.94), (0.509, 0.84), (0.0, 0.90)],
    16: [(1.0, 1.02), (0.866, 0.99), (0.701, 0.93), (0.506, 0.82), (0.0, 0.88)],
}
COLOURS = {1: "#c33", 4: "#e90", 8: "#36c", 16: "#393"}
# three drafts a step (predictable 1.0 and 0.85), batch -> points
THREE_DRAFTS = {1: [(1.0, 1.31), (0.795, 1.10)], 8: [(1.0, 1.24), (0.742, 0.97)]}
# the targets at 85 % acceptance
TARGETS = {1: 1.6, 8: 1.2}
# bytes read at batch 1, one draft: a plain step reads 185 M weights, a drafting step 317 M
PLAIN, DRAFTING = 185.0, 317.0
W, H, L, R, T, B = 660, 380, 60, 230, 30, 50
LOW, HIGH = 0.5, 1.7


def x_of(a):
    return L + (W - L - R) * a


def y_of(v):
    return H - B - (H - T - B) * (v - LOW) / (HIGH - LOW)


def main():
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
           '<rect width="100%" height="100%" fill="white"/>',
           f'<text x="{W / 2}" y="18" text-anchor="middle" font-size="14">speculative / plain decode tok/s, bench + MTP,'
           ' one process, 2 cores</text>',
           f'<line x1="{L}" y1="{H - B}" x2="{W - R}" y2="{H - B}" stroke="black"/>',
           f'<line x1="{L}" y1="{T}" x2="{L}" y2="{H - B}" stroke="black"/>',
           f'<text x="{(L + W - R) / 2}" y="{H - 12}" text-anchor="middle">drafts accepted</text>']
    v = LOW
    while v <= HIGH + 1e-9:
        y = y_of(v)
        out.append(f'<line x1="{L - 4}" y1="{y:.1f}" x2="{W - R}" y2="{y:.1f}" stroke="{"#999" if abs(v - 1) < 1e-9 else "#ddd"}"/>')
        out.append(f'<text x="{L - 8}" y="{y + 4:.1f}" text-anchor="end">{v:.1f}x</text>')
        v += 0.1
    for a in range(0, 101, 20):
        out.append(f'<text x="{x_of(a / 100):.1f}" y="{H - B + 16}" text-anchor="middle">{a} %</text>')
    model = " ".join(f"{x_of(a / 100):.1f},{y_of((1 + a / 100) * PLAIN / DRAFTING):.1f}" for a in range(50, 101, 5))
    out.append(f'<polyline points="{model}" fill="none" stroke="#c33" stroke-width="1" stroke-dasharray="4 3"/>')
    for batch, points in ONE_DRAFT.items():
        colour = COLOURS[batch]
        pts = " ".join(f"{x_of(a):.1f},{y_of(s):.1f}" for a, s in sorted(points))
        out.append(f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for a, s in points:
            out.append(f'<circle cx="{x_of(a):.1f}" cy="{y_of(s):.1f}" r="3" fill="{colour}"/>')
    for batch, points in THREE_DRAFTS.items():
        for a, s in points:
            out.append(f'<circle cx="{x_of(a):.1f}" cy="{y_of(s):.1f}" r="5" fill="none" stroke="{COLOURS[batch]}" stroke-width="2"/>')
    for batch, target in TARGETS.items():
        x, y = x_of(0.85), y_of(target)
        out.append(f'<line x1="{x:.1f}" y1="{y:.1f}" x2="{x_of(1.0):.1f}" y2="{y:.1f}" stroke="{COLOURS[batch]}" stroke-dasharray="1 3" stroke-width="2"/>')
        out.append(f'<text x="{x - 4:.1f}" y="{y + 4:.1f}" text-anchor="end" fill="{COLOURS[batch]}">target, batch {batch}</text>')
    legend = [(f"batch {b}, one draft", COLOURS[b], "line") for b in ONE_DRAFT]
    legend += [("three drafts (batch 1, 8)", "#555", "ring"), ("bytes read, batch 1:", "#c33", "dash"),
               ("(1 + a) x 185 / 317 M weights", None, None)]
    for i, (name, colour, kind) in enumerate(legend):
        y = T + 20 + 20 * i
        if kind == "line":
            out.append(f'<line x1="{W - R + 15}" y1="{y}" x2="{W - R + 35}" y2="{y}" stroke="{colour}" stroke-width="2"/>')
        elif kind == "ring":
            out.append(f'<circle cx="{W - R + 25}" cy="{y}" r="5" fill="none" stroke="{colour}" stroke-width="2"/>')
        elif kind == "dash":
            out.append(f'<line x1="{W - R + 15}" y1="{y}" x2="{W - R + 35}" y2="{y}" stroke="{colour}" stroke-dasharray="4 3"/>')
        out.append(f'<text x="{W - R + 40}" y="{y + 4}">{name}</text>')
    out.append('</svg>')
    pathlib.Path(__file__).with_name("speculative.svg").write_text("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
