package dev.moemesh.load.door;

import dev.moemesh.load.workload.LoadRequest;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Flow;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * The router's OpenAI API: {@code POST /v1/completions} with {@code stream: true}, read as Server-Sent Events, one
 * {@code data:} chunk per token, then {@code data: [DONE]}. A refusal is its HTTP status ({@code http_429},
 * {@code http_503}, ...); a 429 without {@code Retry-After} is counted apart ({@code http_429_no_retry_after}).
 */
public final class RestDoor implements Door {
    private final HttpClient http;
    private final URI completions;
    private final String model;
    private final Duration deadline;

    /** @param baseUrl the router's HTTP root, e.g. {@code http://localhost:8080} */
    public RestDoor(String baseUrl, String model, Duration deadline) {
        this.http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(10))
                .build();
        this.completions = URI.create(baseUrl.replaceAll("/+$", "") + "/v1/completions");
        this.model = model;
        this.deadline = deadline;
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
        HttpRequest request = HttpRequest.newBuilder(completions).timeout(deadline)
                .header("content-type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build();
        trace.sent(System.nanoTime());
        http.sendAsync(request, info -> {
            if (info.statusCode() == 200) return HttpResponse.BodySubscribers.fromLineSubscriber(new Events(trace));
            String kind = "http_" + info.statusCode();
            if (info.statusCode() == 429 && info.headers().firstValue("retry-after").isEmpty()) {
                kind += "_no_retry_after";
            }
            trace.failed(System.nanoTime(), kind);
            return HttpResponse.BodySubscribers.discarding();
        }).whenComplete((response, error) -> {
            if (error != null) trace.failed(System.nanoTime(), "http_" + error.getClass().getSimpleName());
            else trace.failed(System.nanoTime(), "stream_ended_without_done"); // ignored after [DONE]
        });
    }

    /** The event stream of one answer, a line at a time. */
    private static final class Events implements Flow.Subscriber<String> {
        private static final Pattern TOKEN_IDS = Pattern.compile("\"token_ids\"\\s*:\\s*\\[([0-9,\\s]*)]");
        private final RequestTrace trace;
        private final List<Integer> ids = new ArrayList<>();
        private int tokens;

        Events(RequestTrace trace) {
            this.trace = trace;
        }

        @Override
        public void onSubscribe(Flow.Subscription s) {
            s.request(Long.MAX_VALUE);
        }

        @Override
        public void onNext(String line) {
            if (!line.startsWith("data:")) return;
            long now = System.nanoTime();
            if (line.contains("[DONE]")) {
                if (ids.isEmpty()) trace.answered(now, tokens);
                else trace.answered(now, ids.stream().mapToInt(Integer::intValue).toArray());
            } else if (line.contains("\"error\"")) {
                trace.failed(now, "stream_error");
            } else if (!line.contains("\"token_ids\":[]")) {
                tokens++;
                trace.token(now);
                Matcher m = TOKEN_IDS.matcher(line);
                if (m.find()) {
                    for (String id : m.group(1).split(",")) if (!id.isBlank()) ids.add(Integer.parseInt(id.strip()));
                }
            }
        }

        @Override
        public void onError(Throwable t) {
            trace.failed(System.nanoTime(), "stream_" + t.getClass().getSimpleName());
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
