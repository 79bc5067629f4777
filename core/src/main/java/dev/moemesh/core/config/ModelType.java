package dev.moemesh.core.config;

/** {@code model_type}: the checkpoint families whose math this engine implements. */
public enum ModelType {
    DEEPSEEK_V2,
    DEEPSEEK_V3,
    KIMI_K2
}
