package dev.moemesh.load.workload;

/** One request's size: prompt tokens in, tokens to generate out. */
public record Shape(int promptTokens, int outputTokens) {
    public Shape {
        if (promptTokens < 1 || outputTokens < 1) {
            throw new IllegalArgumentException("a request needs at least 1 prompt and 1 output token, got "
                    + promptTokens + " and " + outputTokens);
        }
    }
}
