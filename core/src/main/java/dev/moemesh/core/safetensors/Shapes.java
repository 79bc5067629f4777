package dev.moemesh.core.safetensors;

/** Element and byte counts of tensor shapes, failing loudly instead of overflowing. */
final class Shapes {

    private Shapes() {
    }

    /** Throws {@link ArithmeticException} when the product does not fit a long. */
    static long elementCount(long[] shape) {
        long count = 1;
        for (long dim : shape) {
            count = Math.multiplyExact(count, dim);
        }
        return count;
    }

    static long byteLength(long[] shape, DType dtype) {
        return Math.multiplyExact(elementCount(shape), (long) dtype.bytes());
    }
}
