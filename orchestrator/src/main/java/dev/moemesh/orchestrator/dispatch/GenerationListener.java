package dev.moemesh.orchestrator.dispatch;

import dev.moemesh.proto.Completion;

/** What becomes of one generation on an attention service: its tokens, then exactly one of the two endings. */
public interface GenerationListener {
    void token(int index, int tokenId);

    /** The service finished the generation (its finish reason may still be {@code error}). */
    void completed(Completion completion);

    /** The generation could not run or the call broke off; {@code code} is an error code of the contract. */
    void failed(String code, String message);
}
