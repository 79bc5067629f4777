package dev.moemesh.router.prompt;

/**
 * A request either door refuses as it stands: {@code param} names the field, {@code code} is OpenAI's error code
 * ({@link #MODEL_NOT_FOUND} is a 404 / {@code NOT_FOUND}, every other a 400 / {@code INVALID_ARGUMENT}).
 */
public final class InvalidRequest extends RuntimeException {
    public static final String INVALID_VALUE = "invalid_value";
    public static final String CONTEXT_LENGTH_EXCEEDED = "context_length_exceeded";
    public static final String MODEL_NOT_FOUND = "model_not_found";

    private final String param;
    private final String code;

    public InvalidRequest(String param, String code, String message) {
        super(message, null, false, false);
        this.param = param;
        this.code = code;
    }

    /** A field missing or wrong. */
    public static InvalidRequest of(String param, String message) {
        return new InvalidRequest(param, INVALID_VALUE, message);
    }

    public String param() {
        return param;
    }

    public String code() {
        return code;
    }
}
