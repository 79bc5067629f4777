package dev.moemesh.core.engine;

import dev.moemesh.core.tensor.Vectors;

/**
 * A generated token's log-probability and the most likely tokens at its position, most likely first (ties by lower
 * id, as {@link Sampler#argmax} breaks them, so a greedy token is the first of its alternatives).
 *
 * <p>They are of the model's own distribution, the log-softmax of the raw logits, before temperature, top-k and top-p
 * (vLLM's default): the same figures whatever the sampling, defined for greedy decoding (where a distribution after
 * temperature 0 is not), and what a reader scoring text with the model expects. docs/wire.md says so too.
 *
 * @param logprob     the token's, ln p(token)
 * @param topIds      (k) the k most likely token ids
 * @param topLogprobs (k) their log-probabilities
 */
public record TokenLogprobs(float logprob, int[] topIds, float[] topLogprobs) {

    /** {@code token}'s log-probability in {@code logits[offset .. offset + vocab)}, with the {@code k} most likely. */
    public static TokenLogprobs of(float[] logits, int offset, int vocab, int token, int k) {
        float max = Vectors.max(logits, offset, vocab);
        double logZ = max + Math.log(Vectors.sumExp(logits, offset, vocab, max));
        int[] ids = top(logits, offset, vocab, Math.min(k, vocab));
        float[] lp = new float[ids.length];
        for (int j = 0; j < ids.length; j++) lp[j] = (float) (logits[offset + ids[j]] - logZ);
        return new TokenLogprobs((float) (logits[offset + token] - logZ), ids, lp);
    }

    /** The ids of the {@code k} largest logits, largest first, the lower id first among equals. */
    private static int[] top(float[] logits, int offset, int vocab, int k) {
        int[] ids = new int[k];
        if (k == 0) return ids;
        int n = 0;
        for (int i = 0; i < vocab; i++) {
            float v = logits[offset + i];
            if (n == k && !(v > logits[offset + ids[k - 1]])) continue;
            int at = n < k ? n++ : k - 1;
            // insertion from the end: an equal logit seen earlier (a lower id) stays ahead
            while (at > 0 && v > logits[offset + ids[at - 1]]) {
                ids[at] = ids[at - 1];
                at--;
            }
            ids[at] = i;
        }
        return ids;
    }
}
