package dev.moemesh.core.engine;

/** Why a generation ended, named as OpenAI's API names it. */
public enum FinishReason {
    /** eos or a stop token. */
    STOP,
    /** max_tokens reached. */
    LENGTH,
    /** cancelled by the caller. */
    CANCELLED,
    /** the engine could not run it; see the error message. */
    ERROR;

    public String wireName() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }
}
