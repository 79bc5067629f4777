package dev.moemesh.core.tokenizer;

import java.util.Objects;

/** One chat turn: who spoke ({@code system}, {@code user}, {@code assistant}, {@code tool}) and what they said. */
public record ChatMessage(String role, String content) {

    public ChatMessage {
        Objects.requireNonNull(role, "role");
    }
}
