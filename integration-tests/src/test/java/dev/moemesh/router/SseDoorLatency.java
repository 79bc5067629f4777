package dev.moemesh.router;

import dev.moemesh.core.checkpoint.Preset;
import dev.moemesh.core.model.TestModels;
import dev.moemesh.localmesh.LocalMesh;
import dev.moemesh.proto.AttentionServiceGrpc;
import dev.moemesh.proto.GenerateEvent;
import dev.moemesh.proto.GenerateRequest;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;

/**
 * How much time the REST door's Server-Sent Events add to a generation: one attention service on the tiny
 * checkpoint, and requests one at a time straight to it over gRPC ({@code Generate}) and through each router given
 * (the one built here, and another build's {@code quarkus-app}, e.g. main's), and through the one built here a streamed
 * chat without and with {@code top_logprobs: 20} (what asking costs a stream), in rounds of shuffled order. Prints, per
 * door, the median and 90th percentile over requests of the time to first token and of the mean inter-token latency,
 * and what each router adds to the direct call. Not a test: run by hand (docs/benchmarks.md).
 *
 * <pre>java -cp ... dev.moemesh.router.SseDoorLatency [other-router-home] [rounds] [requests-per-round] [tokens]
 *     [warm-up-requests]</pre>
 * {@code other-router-home}: a directory holding {@code router-service/target/quarkus-app} of the build to compare.
 */
public final class SseDoorLatency {
    private static final int[] PROMPT = {4, 2, 7, 1, 9, 3, 5, 8};

    /**
     * One request's times in microseconds: to its first token, and the mean between its tokens (the tiny checkpoint
     * makes a token in well under a millisecond, so a door may deliver several in one read: single gaps say little).
     */
    private record Times(double firstTokenMicros, double interTokenMicros) {}

    private interface Door {
        Times run(int tokens) throws Exception;
    }

    public static void main(String[] args) throws Exception {
        Path other = args.length > 0 ? Path.of(args[0]) : null;
        int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 10;
        int perRound = args.length > 2 ? Integer.parseInt(args[2]) : 10;
        int tokens = args.length > 3 ? Integer.parseInt(args[3]) : 32;
        int warmUp = args.length > 4 ? Integer.parseInt(args[4]) : 1000;
        Path logs = LocalMesh.home().resolve("integration-tests/target/latency-logs");
        List<String> jvm = List.of("-Xmx512m");
        Path model = TestModels.tiny(Preset.TINY_V3);
        try (LocalMesh here = new LocalMesh(LocalMesh.home(), logs, jvm);
             LocalMesh there = other == null ? null : new LocalMesh(other, logs, jvm)) {
            LocalMesh.Service attention = here.startAttentionService("latency-attention", model, List.of(),
                    LocalMesh.freePort(), List.of(), Duration.ofMinutes(3));
            Map<String, Door> doors = new LinkedHashMap<>();
            ManagedChannel channel = NettyChannelBuilder.forTarget(attention.address()).usePlaintext().build();
            doors.put("grpc-direct", direct(AttentionServiceGrpc.newBlockingStub(channel)));
            LocalMesh.Service router = here.startRouter("latency-router-this", model, List.of(attention.address()),
                    LocalMesh.freePort(), LocalMesh.freePort(), Duration.ofMinutes(3));
            String served = model.getFileName().toString();
            doors.put("rest-this", rest(router.httpPort(), served));
            // what asking for top_logprobs costs a stream, through the same router: a chat without and with
            doors.put("chat-this", chat(router.httpPort(), served, ""));
            doors.put("chat-top20", chat(router.httpPort(), served, ",\"logprobs\":true,\"top_logprobs\":20"));
            if (there != null) {
                LocalMesh.Service old = there.startRouter("latency-router-other", model, List.of(attention.address()),
                        LocalMesh.freePort(), LocalMesh.freePort(), Duration.ofMinutes(3));
                doors.put("rest-other", rest(old.httpPort(), model.getFileName().toString()));
            }
            // warm every JIT up: a router's first thousand requests run measurably slower than its later ones
            for (int i = 0; i < warmUp; i++) for (Door d : doors.values()) d.run(tokens);
            Map<String, List<Times>> times = new LinkedHashMap<>();
            doors.keySet().forEach(k -> times.put(k, new ArrayList<>()));
            List<String> order = new ArrayList<>(doors.keySet());
            Random random = new Random(7);
            for (int r = 0; r < rounds; r++) {
                Collections.shuffle(order, random);
                for (String name : order) {
                    for (int i = 0; i < perRound; i++) times.get(name).add(doors.get(name).run(tokens));
                }
            }
            channel.shutdownNow();
            report(times);
        }
    }

    private static Door direct(AttentionServiceGrpc.AttentionServiceBlockingStub stub) {
        int[] n = {0};
        return tokens -> {
            GenerateRequest.Builder request = GenerateRequest.newBuilder().setRequestId("latency-" + n[0]++);
            request.getSamplingBuilder().setMaxTokens(tokens).setIgnoreEos(true);
            for (int t : PROMPT) request.addPromptTokenIds(t);
            long sent = System.nanoTime();
            List<Long> at = new ArrayList<>();
            Iterator<GenerateEvent> events = stub.generate(request.build());
            while (events.hasNext()) {
                if (events.next().hasToken()) at.add(System.nanoTime());
            }
            return times(sent, at, tokens);
        };
    }

    private static Door rest(int port, String model) {
        return sse(URI.create("http://localhost:" + port + "/v1/completions"), "{\"model\":\"" + model
                + "\",\"prompt\":" + Arrays.toString(PROMPT) + ",\"max_tokens\":%d,\"temperature\":0,\"ignore_eos\":true,"
                + "\"stream\":true}");
    }

    /** A streamed chat answer to one short message, with {@code more} fields. */
    private static Door chat(int port, String model, String more) {
        return sse(URI.create("http://localhost:" + port + "/v1/chat/completions"), "{\"model\":\"" + model
                + "\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"max_tokens\":%d,\"temperature\":0,"
                + "\"ignore_eos\":true,\"stream\":true" + more + "}");
    }

    /** Requests of {@code body} (its max_tokens a %d) to {@code uri}, timed at each chunk that carries a token. */
    private static Door sse(URI uri, String body) {
        HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        return tokens -> {
            HttpRequest request = HttpRequest.newBuilder(uri).header("content-type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString(body.formatted(tokens))).build();
            long sent = System.nanoTime();
            List<Long> at = new ArrayList<>();
            HttpResponse<Stream<String>> r = http.send(request, HttpResponse.BodyHandlers.ofLines());
            if (r.statusCode() != 200) throw new IllegalStateException("HTTP " + r.statusCode());
            r.body().forEach(line -> {
                if (line.contains("\"token_ids\":[") && !line.contains("\"token_ids\":[]")) at.add(System.nanoTime());
            });
            return times(sent, at, tokens);
        };
    }

    private static Times times(long sent, List<Long> at, int tokens) {
        if (at.size() != tokens) throw new IllegalStateException("expected " + tokens + " tokens, got " + at.size());
        return new Times((at.get(0) - sent) / 1e3, (at.get(tokens - 1) - at.get(0)) / 1e3 / (tokens - 1));
    }

    private static void report(Map<String, List<Times>> times) {
        Map<String, double[]> ttft = new LinkedHashMap<>();
        Map<String, double[]> itl = new LinkedHashMap<>();
        times.forEach((door, list) -> {
            ttft.put(door, list.stream().mapToDouble(Times::firstTokenMicros).sorted().toArray());
            itl.put(door, list.stream().mapToDouble(Times::interTokenMicros).sorted().toArray());
        });
        System.out.printf("%-12s %8s %12s %12s %12s %12s%n", "door", "requests", "ttft p50 us", "ttft p90 us",
                "itl p50 us", "itl p90 us");
        for (String door : times.keySet()) {
            System.out.printf("%-12s %8d %12.0f %12.0f %12.1f %12.1f%n", door, times.get(door).size(),
                    pct(ttft.get(door), 50), pct(ttft.get(door), 90), pct(itl.get(door), 50), pct(itl.get(door), 90));
        }
        double ttftDirect = pct(ttft.get("grpc-direct"), 50);
        double itlDirect = pct(itl.get("grpc-direct"), 50);
        for (String door : times.keySet()) {
            if (door.equals("grpc-direct")) continue;
            System.out.printf("%-12s adds ttft p50 %+.0f us (x%.3f of direct), itl p50 %+.1f us (x%.3f of direct)%n",
                    door, pct(ttft.get(door), 50) - ttftDirect, pct(ttft.get(door), 50) / ttftDirect,
                    pct(itl.get(door), 50) - itlDirect, pct(itl.get(door), 50) / itlDirect);
        }
    }

    private static double pct(double[] sorted, int p) {
        return sorted[Math.min(sorted.length - 1, (int) Math.floor(p / 100.0 * sorted.length))];
    }
}
