#!/usr/bin/env bash
# Rebuilds the kernels' fatbin from src/main/cuda/experts.cu with nvcc (CUDA 13): machine code for sm_80 (A100)
# and sm_90 (H100/H200) plus compute_80 PTX that the driver compiles for any newer GPU. The result and the
# nvcc version that made it are committed under src/main/resources/dev/moemesh/cuda/, so machines without
# nvcc still build; KernelResourceTest checks they are current wherever the same nvcc is on the PATH.
#
#   cuda-experts/build-kernels.sh [OUT_DIR]      (default: the resource folder)
set -euo pipefail
module_dir="$(cd "$(dirname "$0")" && pwd)"
out_dir="${1:-$module_dir/src/main/resources/dev/moemesh/cuda}"
mkdir -p "$out_dir"
out_dir="$(cd "$out_dir" && pwd)"
cd "$module_dir/src/main/cuda"
# compiled from this folder by relative name: the fatbin then does not depend on where the checkout lives
nvcc -std=c++17 -O3 --fatbin \
  -gencode arch=compute_80,code=sm_80 \
  -gencode arch=compute_90,code=sm_90 \
  -gencode arch=compute_80,code=compute_80 \
  -o "$out_dir/experts.fatbin" experts.cu
nvcc --version | grep -o 'release [0-9.]*, V[0-9.]*' > "$out_dir/experts.fatbin.nvcc"
