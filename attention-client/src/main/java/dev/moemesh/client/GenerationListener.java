package dev.moemesh.client;

import dev.moemesh.proto.Completion;
import dev.moemesh.proto.TokenEvent;
import io.grpc.Status;

/** What becomes of one generation on an attention service: its tokens, then exactly one of the two endings. */
public interface GenerationListener {
    /**
     * A token as its event came: its index, its id, and what it carries besides (its log-probabilities, when the
     * request asked). The one token method: a listener that passes tokens on passes the event on whole, and one that
     * forgets to does not compile.
     */
    void token(TokenEvent token);

    /** The service ({@code attentionService}) finished the generation; its finish reason may still be {@code error}. */
    void completed(Completion completion, String attentionService);

    /** The call failed: refused by the service, or broken off in transport ({@code status} says which). */
    void failed(Status status, String message);

    /**
     * The mesh failed the generation ({@code why}) and it runs again, elsewhere where it can; its client sees nothing
     * of it (the tokens replayed are not told again). Before the run, on whatever thread scheduled it.
     */
    default void ranAgain(String why) {}
}
