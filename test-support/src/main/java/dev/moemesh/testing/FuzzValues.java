package dev.moemesh.testing;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;

/** Values the fuzz targets build messages from, chosen where parsers and checks tend to break. */
public final class FuzzValues {
    private FuzzValues() {
    }

    /**
     * A 32-bit field's value (a protobuf {@code uint32} arrives as a Java int): small and plausible (up to
     * {@code plausible}), arbitrary, or within 64 of a 32-bit edge, where sums wrap and unsigned values turn negative.
     */
    public static int edgeInt(FuzzedDataProvider data, int plausible) {
        return switch (data.consumeInt(0, 3)) {
            case 0 -> data.consumeInt(0, plausible);
            case 1 -> data.consumeInt();
            case 2 -> Integer.MAX_VALUE - data.consumeInt(0, 64);
            default -> Integer.MIN_VALUE + data.consumeInt(0, 64);
        };
    }
}
