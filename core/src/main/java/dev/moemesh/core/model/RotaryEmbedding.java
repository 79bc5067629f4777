package dev.moemesh.core.model;

import dev.moemesh.core.config.ModelConfig;

/**
 * Rotary position embedding on interleaved pairs {@code (x[2i], x[2i+1])}, with DeepSeek's YaRN frequency
 * correction and attention mscale when the serving context exceeds the checkpoint's original context.
 *
 * <p>Follows {@code precompute_freqs_cis} of DeepSeek-V3's reference {@code model.py}: with a served context given,
 * YaRN engages when it is larger than {@code original_max_position_embeddings}. Without one (0), YaRN engages
 * whenever the config has it, as Hugging Face's implementation always applies it.
 */
public final class RotaryEmbedding {
    private final float[] frequencies; // (rope_dim / 2)
    private final float amplitude;
    private final float softmaxScale;
    private final boolean yarnEngaged;

    /** @param maxSeqLen the served context, or 0 for the checkpoint's own (YaRN on whenever configured) */
    public RotaryEmbedding(ModelConfig config, int maxSeqLen) {
        int dim = config.qkRopeHeadDim();
        double base = config.ropeTheta();
        ModelConfig.Yarn yarn = config.yarn();
        frequencies = new float[dim / 2];
        for (int i = 0; i < dim / 2; i++) {
            frequencies[i] = (float) (1.0 / Math.pow(base, (float) (2 * i) / dim));
        }
        double scale = 1.0 / Math.sqrt(config.qkHeadDim());
        yarnEngaged = yarn != null && (maxSeqLen == 0 || maxSeqLen > yarn.originalMaxPositionEmbeddings());
        if (yarnEngaged) {
            correctFrequencies(yarn, dim, base);
            double mscaleAll = mscale(yarn.factor(), yarn.mscaleAllDim());
            amplitude = (float) (mscale(yarn.factor(), yarn.mscale()) / mscaleAll);
            scale *= mscaleAll * mscaleAll;
        } else {
            amplitude = 1f;
        }
        softmaxScale = (float) scale;
    }

    /** Blends interpolated and extrapolated frequencies over the dimensions between the two correction bounds. */
    private void correctFrequencies(ModelConfig.Yarn yarn, int dim, double base) {
        int original = yarn.originalMaxPositionEmbeddings();
        int low = (int) Math.max(Math.floor(correctionDim(yarn.betaFast(), dim, base, original)), 0);
        int high = (int) Math.min(Math.ceil(correctionDim(yarn.betaSlow(), dim, base, original)), dim - 1);
        float span = low == high ? 0.001f : high - low;
        for (int i = 0; i < frequencies.length; i++) {
            float ramp = Math.min(Math.max((i - low) / span, 0f), 1f);
            float smooth = 1f - ramp;
            float f = frequencies[i];
            frequencies[i] = (float) (f / yarn.factor()) * (1f - smooth) + f * smooth;
        }
    }

    private static double correctionDim(double rotations, int dim, double base, int maxSeqLen) {
        return dim * Math.log(maxSeqLen / (rotations * 2 * Math.PI)) / (2 * Math.log(base));
    }

    /** YaRN's attention temperature: {@code 0.1 · m · ln(factor) + 1}, or 1 without scaling. */
    static double mscale(double factor, double m) {
        return factor <= 1 ? 1.0 : 0.1 * m * Math.log(factor) + 1.0;
    }

    public boolean yarnEngaged() {
        return yarnEngaged;
    }

    /** {@code qk_head_dim^-0.5}, times YaRN's mscale² when engaged. */
    public float softmaxScale() {
        return softmaxScale;
    }

    public float frequency(int i) {
        return frequencies[i];
    }

    /** Fills {@code cos} and {@code sin} (each rope_dim / 2 long, from {@code offset}) for position {@code pos}. */
    public void angles(int pos, float[] cos, float[] sin, int offset) {
        for (int i = 0; i < frequencies.length; i++) {
            float angle = (float) pos * frequencies[i];
            cos[offset + i] = amplitude * (float) Math.cos(angle);
            sin[offset + i] = amplitude * (float) Math.sin(angle);
        }
    }

    /** Rotates the interleaved pairs of {@code x[x0 .. x0 + rope_dim)} by precomputed angles. */
    public static void rotate(float[] x, int x0, float[] cos, float[] sin, int a0, int pairs) {
        for (int i = 0; i < pairs; i++) {
            float re = x[x0 + 2 * i];
            float im = x[x0 + 2 * i + 1];
            float c = cos[a0 + i];
            float s = sin[a0 + i];
            x[x0 + 2 * i] = re * c - im * s;
            x[x0 + 2 * i + 1] = re * s + im * c;
        }
    }
}
