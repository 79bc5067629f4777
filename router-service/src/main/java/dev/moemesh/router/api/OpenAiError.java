package dev.moemesh.router.api;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

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

    public OpenAiError(int status, String type, String param, String code, String message) {
        super(message, null, false, false);
        this.status = status;
        this.type = type;
        this.param = param;
        this.code = code;
    }

    /** 400: a field of the request is missing or wrong; {@code param} names it. */
    public static OpenAiError invalid(String param, String message) {
        return new OpenAiError(400, "invalid_request_error", param, "invalid_value", message);
    }

    /** 503: the mesh could not run the generation. */
    public static OpenAiError unavailable(String code, String message) {
        return new OpenAiError(503, "server_error", null, code, message);
    }

    public int status() {
        return status;
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
