package dev.moemesh.router.api;

import com.fasterxml.jackson.databind.JsonNode;
import io.vertx.core.http.HttpServerResponse;

/** Writes a whole JSON response. */
final class Json {
    private Json() {}

    static void write(HttpServerResponse response, int status, JsonNode body) {
        if (response.closed() || response.ended()) return;
        response.setStatusCode(status).putHeader("content-type", "application/json").end(body.toString());
    }

    static void error(HttpServerResponse response, OpenAiError e) {
        if (e.retryAfterSeconds() > 0 && !response.closed() && !response.ended()) {
            response.putHeader("retry-after", Long.toString(e.retryAfterSeconds()));
        }
        write(response, e.status(), e.body());
    }
}
