package dev.moemesh.core.engine;

/** Requests the engine tests send: greedy, EOS ignored, over prompts of ids spread across the tiny vocabulary. */
final class TestRequests {
    private TestRequests() {}

    static GenerationRequest greedy(String id, int[] prompt, int maxTokens) {
        return new GenerationRequest(id, prompt, new SamplingParams(maxTokens, 0f, 0, 1f, 0, null, true));
    }

    /** {@code length} ids, each pattern of {@code salt} its own. */
    static int[] prompt(int length, int salt) {
        int[] ids = new int[length];
        for (int i = 0; i < length; i++) ids[i] = 2 + (i * 37 + salt * 101) % 500;
        return ids;
    }
}
