package dev.moemesh.router.api;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.moemesh.router.QuotaRefusal;
import dev.moemesh.router.prompt.InvalidRequest;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;

/**
 * A request the router answers with an error in OpenAI's shape,
 * {@code {"error":{"message","type","param","code"}}}, and its HTTP status.
 */
public final class OpenAiError extends RuntimeException {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final int status;
    private final String type;
    private final String param;
    private final String code;
    private final long retryAfterSeconds;

    public OpenAiError(int status, String type, String param, String code, String message) {
        this(status, type, param, code, message, 0);
    }

    private OpenAiError(int status, String type, String param, String code, String message, long retryAfterSeconds) {
        super(message, null, false, false);
        this.status = status;
        this.type = type;
        this.param = param;
        this.code = code;
        this.retryAfterSeconds = retryAfterSeconds;
    }

    /** 429 with {@code Retry-After}: the mesh is full now (the router's bound or an attention service's queue). */
    public static OpenAiError overloaded(String message, long retryAfterSeconds) {
        return new OpenAiError(429, "rate_limit_error", null, "mesh_overloaded", message, retryAfterSeconds);
    }

    /** 429 with {@code Retry-After} (rate, concurrency), 413 (size) or 400 (max_tokens): the key's quota said no. */
    public static OpenAiError of(QuotaRefusal e) {
        return switch (e.reason()) {
            case RATE -> new OpenAiError(429, "rate_limit_error", null, "rate_limit_exceeded", e.getMessage(),
                    e.retryAfterSeconds());
            case CONCURRENCY -> new OpenAiError(429, "rate_limit_error", null, "concurrency_limit_exceeded",
                    e.getMessage(), e.retryAfterSeconds());
            case SIZE -> new OpenAiError(413, "invalid_request_error", null, "request_too_large", e.getMessage());
            case MAX_TOKENS -> new OpenAiError(400, "invalid_request_error", "max_tokens", "max_tokens_over_key_limit",
                    e.getMessage());
        };
    }

    /** Seconds for the {@code Retry-After} header; 0: none. */
    public long retryAfterSeconds() {
        return retryAfterSeconds;
    }

    /** 400 or, for another model, 404. */
    public static OpenAiError of(InvalidRequest e) {
        return new OpenAiError(InvalidRequest.MODEL_NOT_FOUND.equals(e.code()) ? 404 : 400, "invalid_request_error",
                e.param(), e.code(), e.getMessage());
    }

    /** 503: the mesh could not run the generation. */
    public static OpenAiError unavailable(String code, String message) {
        return new OpenAiError(503, "server_error", null, code, message);
    }

    public int status() {
        return status;
    }

    /** The HTTP response: the status, {@code Retry-After} when there is one, and the body. */
    public Response response() {
        Response.ResponseBuilder r = Response.status(status).type(MediaType.APPLICATION_JSON_TYPE).entity(body().toString());
        if (retryAfterSeconds > 0) r.header("retry-after", Long.toString(retryAfterSeconds));
        return r.build();
    }

    public ObjectNode body() {
        ObjectNode error = JSON.createObjectNode();
        error.put("message", getMessage());
        error.put("type", type);
        error.put("param", param);
        error.put("code", code);
        ObjectNode body = JSON.createObjectNode();
        body.set("error", error);
        return body;
    }
}
