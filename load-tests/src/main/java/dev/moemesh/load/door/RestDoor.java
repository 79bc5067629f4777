package dev.moemesh.load.door;

import dev.moemesh.load.workload.LoadRequest;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletionException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.Flow;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * The router's OpenAI API: {@code POST /v1/completions} with {@code stream: true}, read as Server-Sent Events, one
 * {@code data:} chunk per token, then {@code data: [DONE]}. A refusal is its HTTP status ({@code http_429},
 * {@code http_503}, ...); a 429 without {@code Retry-After} is counted apart ({@code http_429_no_retry_after}).
 *
 * <p>Given several routers, requests go to them in turn, and the client does what one behind a load balancer that
 * retries would: a request that got no response (its connection refused or reset before a status line) is sent to
 * the next router, since no router can have started it. With {@code resume}, a stream that breaks part-way (its
 * router died) is sent again to the next router and goes on from its next token: a greedy request's answer is the
 * same, so the tokens already received are checked against the new stream's first ones ({@code resume_mismatch}
 * when they differ) and not counted twice. Each router is tried at most once per request.
 */
public final class RestDoor implements Door {
    private final HttpClient http;
    private final List<URI> completions;
    private final String model;
    private final Duration deadline;
    private final boolean resume;
    private final AtomicInteger next = new AtomicInteger();

    /** @param baseUrl the router's HTTP root, e.g. {@code http://localhost:8080} */
    public RestDoor(String baseUrl, String model, Duration deadline) {
        this(List.of(baseUrl), model, deadline, false);
    }

    /** @param baseUrls the routers' HTTP roots, taken in turn; {@code resume}: broken streams go on at the next */
    public RestDoor(List<String> baseUrls, String model, Duration deadline, boolean resume) {
        if (baseUrls.isEmpty()) throw new IllegalArgumentException("no router to send to");
        this.http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(10))
                .build();
        this.completions = baseUrls.stream().map(b -> URI.create(b.strip().replaceAll("/+$", "") + "/v1/completions"))
                .toList();
        this.model = model;
        this.deadline = deadline;
        this.resume = resume;
    }

    @Override
    public String name() {
        return "rest";
    }

    @Override
    public void send(LoadRequest r, RequestTrace trace) {
        String prompt = Arrays.stream(r.promptIds()).mapToObj(Integer::toString).collect(Collectors.joining(",", "[", "]"));
        String body = "{\"model\":\"" + model + "\",\"prompt\":" + prompt + ",\"max_tokens\":" + r.maxTokens()
                + ",\"temperature\":0,\"ignore_eos\":true,\"stream\":true}";
        long sent = System.nanoTime();
        trace.sent(sent);
        attempt(body, Math.floorMod(next.getAndIncrement(), completions.size()), 0, new int[0], trace, sent);
    }

    private void attempt(String body, int router, int tries, int[] prior, RequestTrace trace, long sentNanos) {
        Duration left = deadline.minusNanos(System.nanoTime() - sentNanos);
        if (left.isNegative() || left.isZero()) {
            trace.failed(System.nanoTime(), "deadline_before_another_router");
            return;
        }
        HttpRequest request = HttpRequest.newBuilder(completions.get(router % completions.size())).timeout(left)
                .header("content-type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build();
        Events events = new Events(trace, prior);
        AtomicInteger status = new AtomicInteger();
        http.sendAsync(request, info -> {
            status.set(info.statusCode());
            if (info.statusCode() == 200) return HttpResponse.BodySubscribers.fromLineSubscriber(events);
            String kind = "http_" + info.statusCode();
            if (info.statusCode() == 429 && info.headers().firstValue("retry-after").isEmpty()) {
                kind += "_no_retry_after";
            }
            trace.failed(System.nanoTime(), kind);
            return HttpResponse.BodySubscribers.discarding();
        }).whenComplete((response, error) -> {
            if (events.ended() || status.get() > 200) return; // answered, or failed as the router said
            Throwable cause = error instanceof CompletionException && error.getCause() != null ? error.getCause() : error;
            boolean anotherRouter = tries + 1 < completions.size();
            if (status.get() == 0 && cause instanceof IOException && anotherRouter) {
                trace.sentAgain(false); // no router answered it: none started it
                attempt(body, router + 1, tries + 1, prior, trace, sentNanos);
            } else if (status.get() == 200 && resume && anotherRouter) {
                trace.sentAgain(true);
                attempt(body, router + 1, tries + 1, events.ids(), trace, sentNanos);
            } else if (cause != null) {
                trace.failed(System.nanoTime(), (status.get() == 200 ? "stream_" : "http_") + cause.getClass().getSimpleName());
            } else {
                trace.failed(System.nanoTime(), "stream_ended_without_done");
            }
        });
    }

    /** The event stream of one answer, a line at a time; {@code prior}: the tokens an earlier, broken stream gave. */
    private static final class Events implements Flow.Subscriber<String> {
        private static final Pattern TOKEN_IDS = Pattern.compile("\"token_ids\"\\s*:\\s*\\[([0-9,\\s]*)]");
        private final RequestTrace trace;
        private final int[] prior;
        private final List<Integer> ids = new ArrayList<>();
        private int tokens;
        private volatile boolean ended;

        Events(RequestTrace trace, int[] prior) {
            this.trace = trace;
            this.prior = prior;
        }

        @Override
        public void onSubscribe(Flow.Subscription s) {
            s.request(Long.MAX_VALUE);
        }

        @Override
        public void onNext(String line) {
            if (ended || !line.startsWith("data:")) return;
            long now = System.nanoTime();
            if (line.contains("[DONE]")) {
                ended = true;
                if (ids.isEmpty() && prior.length == 0) trace.answered(now, tokens);
                else trace.answered(now, ids.stream().mapToInt(Integer::intValue).toArray());
            } else if (line.contains("\"error\"")) {
                ended = true;
                trace.failed(now, "stream_error");
            } else if (!line.contains("\"token_ids\":[]")) {
                Matcher m = TOKEN_IDS.matcher(line);
                boolean fresh = !m.find();
                if (!fresh) {
                    for (String id : m.group(1).split(",")) {
                        if (id.isBlank()) continue;
                        int token = Integer.parseInt(id.strip());
                        int at = ids.size();
                        ids.add(token);
                        if (at >= prior.length) {
                            fresh = true;
                        } else if (prior[at] != token) {
                            ended = true;
                            trace.failed(now, "resume_mismatch");
                            return;
                        }
                    }
                }
                if (fresh) {
                    tokens++;
                    trace.token(now);
                }
            }
        }

        /** The answer's tokens received so far: this stream's, or the earlier one's when that gave more. */
        int[] ids() {
            return ids.size() < prior.length ? prior : ids.stream().mapToInt(Integer::intValue).toArray();
        }

        boolean ended() {
            return ended;
        }

        @Override
        public void onError(Throwable t) {
            // the exchange's future fails with it: the door decides there whether to go on at another router
        }

        @Override
        public void onComplete() {
        }
    }

    @Override
    public void close() {
        http.close();
    }
}
