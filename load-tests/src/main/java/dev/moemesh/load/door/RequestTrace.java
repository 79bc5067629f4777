package dev.moemesh.load.door;

import java.util.Arrays;
import java.util.function.Consumer;

/**
 * What happened to one request, in {@code System.nanoTime()}: when it was due (the schedule's time, from which every
 * latency counts), when it was sent, each token's arrival, and how it ended: answered (with its generated tokens)
 * or failed (with a kind: {@code http_429}, {@code RESOURCE_EXHAUSTED}, {@code kafka_attention_failed},
 * {@code no_answer}, ...). A door calls {@link #token} then exactly one of {@link #answered} and {@link #failed};
 * later calls are ignored, so a late answer after a give-up changes nothing.
 */
public final class RequestTrace {
    private final String id;
    private final long dueNanos;
    private final Consumer<RequestTrace> onEnd;
    private long sentNanos;
    private long[] tokenNanos = new long[16];
    private int tokens;
    private long endNanos;
    private boolean ended;
    private int outputTokens;
    private int[] answer;
    private String failure;
    private int failovers;
    private int resumes;

    public RequestTrace(String id, long dueNanos, Consumer<RequestTrace> onEnd) {
        this.id = id;
        this.dueNanos = dueNanos;
        this.onEnd = onEnd;
    }

    public String id() {
        return id;
    }

    public synchronized void sent(long nanos) {
        sentNanos = nanos;
    }

    public synchronized void token(long nanos) {
        if (ended) return;
        if (tokens == tokenNanos.length) tokenNanos = Arrays.copyOf(tokenNanos, tokens * 2);
        tokenNanos[tokens++] = nanos;
    }

    /** The door's answer arrived with {@code generated} tokens (those streamed may be fewer: a non-streaming door). */
    public void answered(long nanos, int generated) {
        answered(nanos, generated, null);
    }

    /** The door's answer arrived: these generated token ids. */
    public void answered(long nanos, int[] tokenIds) {
        answered(nanos, tokenIds.length, tokenIds.clone());
    }

    private void answered(long nanos, int generated, int[] tokenIds) {
        synchronized (this) {
            if (ended) return;
            ended = true;
            endNanos = nanos;
            outputTokens = generated;
            answer = tokenIds;
        }
        onEnd.accept(this);
    }

    public void failed(long nanos, String kind) {
        synchronized (this) {
            if (ended) return;
            ended = true;
            endNanos = nanos;
            failure = kind;
        }
        onEnd.accept(this);
    }

    /**
     * The door sent the request again to another address: {@code resumed}, a stream that broke part-way, going on
     * from its next token; otherwise a request no server had taken (its connection was refused).
     */
    public synchronized void sentAgain(boolean resumed) {
        if (resumed) resumes++;
        else failovers++;
    }

    /** Times the request went to another address because its connection was refused. */
    public synchronized int failovers() {
        return failovers;
    }

    /** Times its stream broke part-way and went on at another address. */
    public synchronized int resumes() {
        return resumes;
    }

    public synchronized boolean ended() {
        return ended;
    }

    public synchronized long dueNanos() {
        return dueNanos;
    }

    public synchronized long sentNanos() {
        return sentNanos;
    }

    public synchronized long endNanos() {
        return endNanos;
    }

    /** Null when answered. */
    public synchronized String failure() {
        return failure;
    }

    public synchronized int outputTokens() {
        return outputTokens;
    }

    /** The generated token ids when the door's answer gave them; null otherwise (or when the request failed). */
    public synchronized int[] answer() {
        return answer == null ? null : answer.clone();
    }

    /** Arrival times of the streamed tokens. */
    public synchronized long[] tokenNanos() {
        return Arrays.copyOf(tokenNanos, tokens);
    }
}
