package dev.moemesh.router.api;

import dev.moemesh.router.ApiKeys;
import dev.moemesh.router.KeyQuota;
import dev.moemesh.router.QuotaRefusal;
import io.quarkus.runtime.configuration.MemorySize;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.ws.rs.container.ContainerRequestContext;
import jakarta.ws.rs.core.Response;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.resteasy.reactive.server.ServerRequestFilter;

import java.util.Optional;

/**
 * What every {@code /v1/*} request passes before its body is read: a declared body over the limit is refused (413),
 * then the API key is checked (401). Application-scoped, so it is made at run time, once the router.* settings
 * are read, not when Quarkus REST sets up its filters.
 */
@ApplicationScoped
public class DoorGuard {
    private final ApiKeys apiKeys;
    private final long maxBodyBytes;

    @Inject
    public DoorGuard(ApiKeys apiKeys, @ConfigProperty(name = "quarkus.http.limits.max-body-size") MemorySize maxBody) {
        this.apiKeys = apiKeys;
        this.maxBodyBytes = maxBody.asLongValue();
    }

    /**
     * A Vert.x route, not a request filter: Quarkus refuses a declared length over the limit itself (route order -2),
     * with an empty 413; this one, before it, says why in OpenAI's shape. A chunked body over the limit still gets
     * Quarkus' empty 413 (the OpenAI clients send a length).
     */
    void bodyLimit(@Observes Router router) {
        router.route("/v1/*").order(-10).handler(this::refuseDeclaredTooLarge);
    }

    private void refuseDeclaredTooLarge(RoutingContext ctx) {
        String length = ctx.request().getHeader("content-length");
        if (length != null && !length.isEmpty() && length.chars().allMatch(Character::isDigit)
                && Long.parseLong(length) > maxBodyBytes) {
            OpenAiError e = OpenAiErrors.tooLarge(maxBodyBytes);
            ctx.response().setStatusCode(e.status()).putHeader("content-type", "application/json")
                    .putHeader("connection", "close").end(e.body().toString());
        } else {
            ctx.next();
        }
    }

    /** The API key (401), then its rate (429 with {@code Retry-After}) and a declared body over its max-body (413). */
    @ServerRequestFilter(preMatching = true)
    public Response checkApiKey(ContainerRequestContext request) {
        if (!request.getUriInfo().getPath().startsWith("/v1/")) return null;
        String authorization = request.getHeaderString("authorization");
        Optional<String> refusal = apiKeys.refusal(authorization, "rest");
        if (refusal.isPresent()) {
            return new OpenAiError(401, "invalid_request_error", null, "invalid_api_key", refusal.get()).response();
        }
        KeyQuota key = apiKeys.quotaOf(authorization);
        try {
            key.takeRate("rest");
            if (request.getLength() > 0) key.checkSize(request.getLength(), "rest");
            return null;
        } catch (QuotaRefusal e) {
            return OpenAiError.of(e).response();
        }
    }
}
