package dev.moemesh.router.api;

import dev.moemesh.core.tokenizer.Tokenizer;
import dev.moemesh.proto.GenerateRequest;
import dev.moemesh.proto.SamplingParams;
import dev.moemesh.router.RouterSettings;
import dev.moemesh.router.dispatch.AttentionCall;
import dev.moemesh.router.schedule.AttentionPool;
import io.quarkus.runtime.configuration.MemorySize;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.BodyHandler;
import jakarta.annotation.PreDestroy;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.inject.ConfigProperty;

import java.util.List;
import java.util.UUID;

/**
 * OpenAI's REST API on the mesh: {@code GET /v1/models}, {@code POST /v1/completions} and
 * {@code POST /v1/chat/completions}, with optional Bearer API keys and every error in OpenAI's shape.
 */
@ApplicationScoped
public class OpenAiRoutes {
    private final String modelName;
    private final Tokenizer tokenizer;
    private final RequestParser parser;
    private final AttentionPool pool;
    private final List<String> apiKeys;
    private final long maxBodyBytes;
    private final long started = System.currentTimeMillis() / 1000;

    @Inject
    public OpenAiRoutes(RouterSettings settings,
                        @ConfigProperty(name = "quarkus.http.limits.max-body-size") MemorySize maxBody) {
        this.modelName = settings.modelName().orElse(settings.modelDir().getFileName().toString());
        this.tokenizer = Tokenizer.load(settings.modelDir()).orElseThrow(() -> new IllegalArgumentException(
                "no tokenizer.json in router.model-dir " + settings.modelDir() + ": the router needs the checkpoint's"
                        + " tokenizer"));
        this.parser = new RequestParser(modelName, tokenizer, settings.maxPromptTokens(), settings.maxTokens());
        this.pool = new AttentionPool(settings.attentionServices());
        this.apiKeys = settings.apiKeys().orElse(List.of());
        this.maxBodyBytes = maxBody.asLongValue();
    }

    void routes(@Observes Router router) {
        router.route("/v1/*").order(-10).handler(this::bodyLimit);
        if (!apiKeys.isEmpty()) router.route("/v1/*").handler(this::authenticate);
        router.route("/v1/*").handler(BodyHandler.create(false).setBodyLimit(maxBodyBytes));
        router.get("/v1/models").handler(ctx -> Json.write(ctx.response(), 200,
                OpenAiResponses.models(modelName, started)));
        router.post("/v1/completions").handler(ctx -> generate(ctx, false));
        router.post("/v1/chat/completions").handler(ctx -> generate(ctx, true));
        router.route("/v1/*").handler(ctx -> Json.error(ctx.response(), new OpenAiError(404, "invalid_request_error",
                null, "unknown_url", "no route " + ctx.request().method() + " " + ctx.request().path())));
        router.route("/v1/*").failureHandler(this::failure);
    }

    /** A declared body over the limit is refused before it is read (a chunked one, by the body handler). */
    private void bodyLimit(RoutingContext ctx) {
        String length = ctx.request().getHeader("content-length");
        if (length != null && !length.isEmpty() && length.chars().allMatch(Character::isDigit)
                && Long.parseLong(length) > maxBodyBytes) {
            ctx.response().putHeader("connection", "close");
            Json.error(ctx.response(), tooLarge());
        } else {
            ctx.next();
        }
    }

    private void authenticate(RoutingContext ctx) {
        String header = ctx.request().getHeader("authorization");
        String key = header != null && header.regionMatches(true, 0, "Bearer ", 0, 7) ? header.substring(7).strip() : null;
        if (key != null && apiKeys.contains(key)) {
            ctx.next();
            return;
        }
        Json.error(ctx.response(), new OpenAiError(401, "invalid_request_error", null, "invalid_api_key",
                key == null ? "no API key: send the header 'Authorization: Bearer <key>'" : "the API key is not valid"));
    }

    private void generate(RoutingContext ctx, boolean chat) {
        OpenAiRequest r = parser.parse(ctx.body().asString(), chat);
        String id = (chat ? "chatcmpl-" : "cmpl-") + UUID.randomUUID();
        GenerationResponder responder = new GenerationResponder(ctx.response(), r, id, modelName,
                System.currentTimeMillis() / 1000, tokenizer);
        AttentionCall call = AttentionCall.start(pool, grpcRequest(id, r), responder);
        String gone = "the HTTP client of " + id + " went away";
        ctx.response().closeHandler(v -> call.cancel(gone));
        if (ctx.response().closed()) call.cancel(gone); // it left before the handler was set
    }

    private static GenerateRequest grpcRequest(String id, OpenAiRequest r) {
        var s = r.sampling();
        SamplingParams.Builder sampling = SamplingParams.newBuilder().setMaxTokens(s.maxTokens())
                .setTemperature(s.temperature()).setTopK(s.topK()).setTopP(s.topP()).setSeed(s.seed())
                .setIgnoreEos(s.ignoreEos());
        for (int stop : s.stopIds()) sampling.addStopTokenIds(stop);
        GenerateRequest.Builder request = GenerateRequest.newBuilder().setRequestId(id).setSampling(sampling);
        for (int t : r.promptIds()) request.addPromptTokenIds(t);
        return request.build();
    }

    private void failure(RoutingContext ctx) {
        if (ctx.failure() instanceof OpenAiError e) {
            Json.error(ctx.response(), e);
        } else if (ctx.statusCode() == 413) {
            Json.error(ctx.response(), tooLarge());
        } else {
            Json.error(ctx.response(), new OpenAiError(500, "server_error", null, "internal_error",
                    ctx.failure() == null ? "request failed with HTTP " + ctx.statusCode() : ctx.failure().toString()));
        }
    }

    private OpenAiError tooLarge() {
        return new OpenAiError(413, "invalid_request_error", null, "request_too_large", "the body is over this"
                + " router's limit of " + maxBodyBytes + " bytes (quarkus.http.limits.max-body-size)");
    }

    @PreDestroy
    void close() {
        pool.close();
        tokenizer.close();
    }
}
