package dev.moemesh.core.config;

/** {@code topk_method}: how the gate picks a token's experts from their scores. */
public enum TopkMethod {
    /** the top-k over every expert */
    GREEDY,
    /** the top-k within the {@code topk_group} groups whose best expert scores highest */
    GROUP_LIMITED_GREEDY,
    /** as group-limited, with the correction bias added for choosing and groups scored by their best two */
    NOAUX_TC
}
