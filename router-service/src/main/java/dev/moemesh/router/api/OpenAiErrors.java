package dev.moemesh.router.api;

import dev.moemesh.router.QuotaRefusal;
import dev.moemesh.router.prompt.InvalidRequest;
import io.vertx.core.http.HttpServerRequest;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.ws.rs.WebApplicationException;
import jakarta.ws.rs.core.Response;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import io.quarkus.runtime.configuration.MemorySize;
import org.jboss.logging.Logger;
import org.jboss.resteasy.reactive.server.ServerExceptionMapper;

/** Every error of the REST door in OpenAI's shape, {@code {"error":{"message","type","param","code"}}}. */
@ApplicationScoped
public class OpenAiErrors {
    private static final Logger LOG = Logger.getLogger(OpenAiErrors.class);

    @ConfigProperty(name = "quarkus.http.limits.max-body-size")
    MemorySize maxBody;

    static OpenAiError tooLarge(long maxBodyBytes) {
        return new OpenAiError(413, "invalid_request_error", null, "request_too_large", "the body is over this"
                + " router's limit of " + maxBodyBytes + " bytes (quarkus.http.limits.max-body-size)");
    }

    @ServerExceptionMapper
    public Response openAi(OpenAiError e) {
        return e.response();
    }

    @ServerExceptionMapper
    public Response quota(QuotaRefusal e) {
        return OpenAiError.of(e).response();
    }

    @ServerExceptionMapper
    public Response invalid(InvalidRequest e) {
        return OpenAiError.of(e).response();
    }

    /** Quarkus REST's own refusals: no such path (404), another method (405), a body over the limit (413), ... */
    @ServerExceptionMapper
    public Response http(WebApplicationException e, HttpServerRequest request) {
        int status = e.getResponse().getStatus();
        String what = request.method() + " " + request.path();
        OpenAiError error = switch (status) {
            case 404 -> new OpenAiError(404, "invalid_request_error", null, "unknown_url", "no route " + what);
            case 405 -> new OpenAiError(405, "invalid_request_error", null, "method_not_allowed", what
                    + ": the method is not allowed here");
            case 413 -> tooLarge(maxBody.asLongValue());
            default -> new OpenAiError(status, status < 500 ? "invalid_request_error" : "server_error", null,
                    "http_" + status, what + ": " + e.getMessage());
        };
        return error.response();
    }

    @ServerExceptionMapper
    public Response unexpected(RuntimeException e, HttpServerRequest request) {
        LOG.errorf(e, "%s %s failed", request.method(), request.path());
        return new OpenAiError(500, "server_error", null, "internal_error", e.toString()).response();
    }
}
