package dev.moemesh.router.api;

import dev.moemesh.client.AttentionCall;
import dev.moemesh.client.AttentionPool;
import dev.moemesh.client.DoorAdmission;
import dev.moemesh.client.DoorMeters;
import dev.moemesh.client.GenerationListener;
import dev.moemesh.router.ApiKeys;
import dev.moemesh.router.prompt.InvalidRequest;
import dev.moemesh.router.prompt.Prompts;
import dev.moemesh.wire.GenerationWire;
import io.quarkus.runtime.configuration.MemorySize;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.BodyHandler;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.inject.ConfigProperty;

import java.util.UUID;

/**
 * OpenAI's REST API on the mesh: {@code GET /v1/models}, {@code POST /v1/completions} and
 * {@code POST /v1/chat/completions}, with optional Bearer API keys and every error in OpenAI's shape.
 */
@ApplicationScoped
public class OpenAiRoutes {
    private final Prompts prompts;
    private final RequestParser parser;
    private final AttentionPool pool;
    private final DoorMeters meters;
    private final DoorAdmission admission;
    private final ApiKeys apiKeys;
    private final long maxBodyBytes;
    private final long started = System.currentTimeMillis() / 1000;

    @Inject
    public OpenAiRoutes(Prompts prompts, AttentionPool pool, DoorMeters meters, DoorAdmission admission, ApiKeys apiKeys,
                        @ConfigProperty(name = "quarkus.http.limits.max-body-size") MemorySize maxBody) {
        this.prompts = prompts;
        this.parser = new RequestParser(prompts);
        this.pool = pool;
        this.meters = meters;
        this.admission = admission;
        this.apiKeys = apiKeys;
        this.maxBodyBytes = maxBody.asLongValue();
    }

    void routes(@Observes Router router) {
        router.route("/v1/*").order(-10).handler(this::bodyLimit);
        router.route("/v1/*").handler(this::authenticate);
        router.route("/v1/*").handler(BodyHandler.create(false).setBodyLimit(maxBodyBytes));
        router.get("/v1/models").handler(ctx -> Json.write(ctx.response(), 200,
                OpenAiResponses.models(prompts.modelName(), started)));
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
        apiKeys.refusal(ctx.request().getHeader("authorization"), "rest").ifPresentOrElse(why -> Json.error(ctx.response(),
                new OpenAiError(401, "invalid_request_error", null, "invalid_api_key", why)), ctx::next);
    }

    private void generate(RoutingContext ctx, boolean chat) {
        OpenAiRequest r = parser.parse(ctx.body().asString(), chat);
        String id = (chat ? "chatcmpl-" : "cmpl-") + UUID.randomUUID();
        GenerationResponder responder = new GenerationResponder(ctx.response(), r, id, prompts.modelName(),
                System.currentTimeMillis() / 1000, prompts, admission.retryAfterSeconds());
        GenerationListener admitted = admission.admit(meters.observe("rest", responder));
        if (admitted == null) {
            Json.error(ctx.response(), OpenAiError.overloaded(admission.refusal().getDescription(),
                    admission.retryAfterSeconds()));
            return;
        }
        AttentionCall call = AttentionCall.start(pool, GenerationWire.request(id, r.promptIds(), r.sampling()), admitted);
        String gone = "the HTTP client of " + id + " went away";
        ctx.response().closeHandler(v -> call.cancel(gone));
        if (ctx.response().closed()) call.cancel(gone); // it left before the handler was set
    }

    private void failure(RoutingContext ctx) {
        if (ctx.failure() instanceof OpenAiError e) {
            Json.error(ctx.response(), e);
        } else if (ctx.failure() instanceof InvalidRequest e) {
            Json.error(ctx.response(), OpenAiError.of(e));
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
}
