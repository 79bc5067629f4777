/**
 * Routed experts on a CUDA GPU: {@link dev.moemesh.cuda.CudaExperts} is core's {@code ExpertPool} with the weights
 * in device memory and the kernels of {@code src/main/cuda/experts.cu}. The only package of the project that
 * imports JCuda; it uses the driver API alone, so the NVIDIA driver's {@code libcuda.so.1} is all it needs.
 */
package dev.moemesh.cuda;
