package dev.moemesh.core.tokenizer;

/** One chat turn. */
public record ChatMessage(String role, String content) {}
