package dev.moemesh.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.moemesh.proto.InferenceRequest;
import dev.moemesh.proto.InferenceResponse;
import dev.moemesh.proto.InferenceServiceGrpc;
import dev.moemesh.proto.SamplingParams;
import dev.moemesh.wire.GenerationWire;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

/**
 * One greedy completion of a text prompt through each of the mesh's three front doors, as their users send it: a
 * record on {@code inference.requests} answered on {@code inference.responses}, the router's gRPC
 * {@code InferenceService.Complete}, and its OpenAI-compatible {@code POST /v1/completions}.
 */
final class FrontDoors {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** What a door answered; {@code tokenIds} is null where the door does not return them (REST). */
    record Answer(String door, String text, int[] tokenIds, String finishReason) {}

    private FrontDoors() {}

    static Answer viaKafka(String bootstrapServers, String id, String prompt, int maxTokens, Duration timeout) {
        String request = JSON.createObjectNode().put("id", id).put("prompt", prompt).put("max_tokens", maxTokens)
                .put("temperature", 0).toString();
        Map<String, Object> consumerConfig = Map.of(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers,
                ConsumerConfig.GROUP_ID_CONFIG, "mesh-demo-" + UUID.randomUUID(),
                ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        try (var consumer = new KafkaConsumer<>(consumerConfig, new StringDeserializer(), new StringDeserializer());
             var producer = new KafkaProducer<>(Map.<String, Object>of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG,
                     bootstrapServers), new StringSerializer(), new StringSerializer())) {
            consumer.subscribe(List.of("inference.responses"));
            producer.send(new ProducerRecord<>("inference.requests", id, request)).get(30, TimeUnit.SECONDS);
            long deadline = System.nanoTime() + timeout.toNanos();
            while (System.nanoTime() < deadline) {
                for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(200))) {
                    if (!id.equals(r.key())) continue;
                    JsonNode event = JSON.readTree(r.value());
                    switch (event.path("type").asText()) {
                        case "completed" -> {
                            return new Answer("kafka", event.path("text").asText(), ints(event.path("token_ids")),
                                    event.path("finish_reason").asText());
                        }
                        case "error" -> throw new IllegalStateException("the orchestrator answered " + id + " with "
                                + event.path("code").asText() + ": " + event.path("message").asText());
                        default -> { }
                    }
                }
            }
            throw new IllegalStateException("no terminal event for " + id + " on inference.responses within "
                    + timeout.toSeconds() + " s");
        } catch (IOException e) {
            throw new IllegalStateException("unreadable event on inference.responses: " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted waiting for " + id);
        } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
            throw new IllegalStateException("could not send " + id + " to inference.requests: " + e.getMessage(), e);
        }
    }

    static Answer viaGrpc(String target, String model, String prompt, int maxTokens) {
        // gRPC's own retry policy: a call that failed UNAVAILABLE before the server saw it (e.g. a connection reset
        // by a router that has only just started) is sent again; one the router answered is never sent twice
        ManagedChannel channel = NettyChannelBuilder.forTarget(target).usePlaintext().enableRetry()
                .defaultServiceConfig(Map.of("methodConfig", List.of(Map.of(
                        "name", List.of(Map.of("service", InferenceServiceGrpc.SERVICE_NAME)),
                        "retryPolicy", Map.of("maxAttempts", 4.0, "initialBackoff", "0.5s", "maxBackoff", "2s",
                                "backoffMultiplier", 2.0, "retryableStatusCodes", List.of("UNAVAILABLE"))))))
                .build();
        try {
            InferenceResponse r = InferenceServiceGrpc.newBlockingStub(channel).withDeadlineAfter(2, TimeUnit.MINUTES)
                    .complete(InferenceRequest.newBuilder().setModel(model).setPrompt(prompt)
                            .setSampling(SamplingParams.newBuilder().setMaxTokens(maxTokens).setTemperature(0)).build());
            return new Answer("grpc", r.getText(), r.getTokenIdsList().stream().mapToInt(Integer::intValue).toArray(),
                    GenerationWire.finishReason(r).wireName());
        } catch (StatusRuntimeException e) {
            throw new IllegalStateException("router " + target + ": " + e.getStatus().getCode() + ": "
                    + e.getStatus().getDescription() + (e.getCause() == null ? "" : " (" + e.getCause() + ")"), e);
        } finally {
            channel.shutdownNow();
        }
    }

    static Answer viaRest(String baseUrl, String model, String prompt, int maxTokens) {
        String body = JSON.createObjectNode().put("model", model).put("prompt", prompt).put("max_tokens", maxTokens)
                .put("temperature", 0).toString();
        try (HttpClient http = HttpClient.newHttpClient()) {
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(baseUrl + "/v1/completions"))
                    .header("Content-Type", "application/json").timeout(Duration.ofMinutes(2))
                    .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
            if (r.statusCode() != 200) {
                throw new IllegalStateException("POST " + baseUrl + "/v1/completions: HTTP " + r.statusCode() + " "
                        + r.body());
            }
            JsonNode choice = JSON.readTree(r.body()).path("choices").path(0);
            // token_ids is this router's extension of OpenAI's choice object
            return new Answer("rest", choice.path("text").asText(), choice.has("token_ids") ? ints(choice.get("token_ids"))
                    : null, choice.path("finish_reason").asText());
        } catch (IOException e) {
            throw new IllegalStateException("POST " + baseUrl + "/v1/completions: " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted waiting for " + baseUrl);
        }
    }

    private static int[] ints(JsonNode array) {
        int[] out = new int[array.size()];
        for (int i = 0; i < out.length; i++) out[i] = array.get(i).asInt();
        return out;
    }
}
