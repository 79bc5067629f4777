package dev.moemesh.core.tensor;

/**
 * A weight matrix {@code W} of shape (rows, cols) applied to a batch of activation rows: {@code y = x · Wᵀ}.
 *
 * <p>Every implementation computes each output element with one fixed sequence of operations, whatever the
 * batch size, the row's place in the batch or the thread that runs it: a sequence's tokens never depend on
 * what else is in the batch.
 */
public sealed interface Matrix permits Bf16Matrix, Fp8Matrix, F32Matrix {

    int rows();

    int cols();

    /** {@code y[r * rows() + n] = Σ_k W[n][k] · x[r * cols() + k]} for every r in {@code [0, batch)}. */
    void multiply(float[] x, int batch, float[] y);

    /** Row {@code n} of W as floats into {@code out[offset ..]}. */
    void row(int n, float[] out, int offset);

    /** Rows {@code [from, from + count)} as a matrix of their own (a copy). */
    Matrix sliceRows(int from, int count);

    /** Wᵀ, in the same storage type (a copy). */
    Matrix transpose();

    /** This matrix's rows followed by {@code below}'s rows, one matrix (a copy); columns must agree. */
    Matrix stack(Matrix below);

    default float get(int n, int k) {
        float[] r = new float[cols()];
        row(n, r, 0);
        return r[k];
    }

    /**
     * Checks operand sizes once per call, so the kernels can run with the Vector API's per-access bounds checks
     * off ({@code -Djdk.incubator.vector.VECTOR_ACCESS_OOB_CHECK=0}, as {@code ./mesh} runs) and still never
     * read past an array.
     */
    static void checkOperands(Matrix m, float[] x, int batch, float[] y) {
        if (batch < 0 || x.length < (long) batch * m.cols() || y.length < (long) batch * m.rows()) {
            throw new IllegalArgumentException("matrix (" + m.rows() + ", " + m.cols() + ") x batch " + batch
                    + ": input holds " + x.length + " floats, output " + y.length);
        }
    }

    /** How many output rows one parallel chunk should hold so a chunk is worth handing to another core. */
    static int grain(int cols, int batch) {
        return Math.max(1, 65_536 / Math.max(1, cols * batch));
    }
}
