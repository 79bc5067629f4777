package dev.moemesh.core.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Base64;
import java.util.HashSet;
import java.util.Optional;
import java.util.Set;

/**
 * A SentencePiece {@code precompiled_charsmap} (the {@code Precompiled} normalizer), checked the way the native
 * tokenizer will read it. The native library (tokenizers 0.21, spm_precompiled) panics on a malformed charsmap, at load
 * and, for a trie that points outside itself, at the first text that walks there; a panic aborts the JVM. So every
 * path any UTF-8 text can take through the trie is walked here first, with the native reader's arithmetic.
 *
 * <p>Layout: a little-endian u32 trie size in bytes, the trie's u32 units (darts-clone's double array), then the
 * replacement strings, UTF-8, each ended by a NUL.
 */
final class PrecompiledCharsmap {
    private PrecompiledCharsmap() {}

    /**
     * Refuses a {@code Precompiled} normalizer anywhere in tokenizer.json's normalizer (a {@code Sequence} nests them)
     * whose charsmap the native tokenizer would panic on.
     *
     * @throws IllegalArgumentException naming the file and what is wrong
     */
    static void checkNormalizer(JsonNode normalizer, Path file) {
        if ("Precompiled".equals(normalizer.path("type").asText())) {
            JsonNode charsmap = normalizer.path("precompiled_charsmap");
            Optional<String> problem = charsmap.isTextual() ? problem(charsmap.asText())
                    : Optional.of("a Precompiled normalizer has no precompiled_charsmap string");
            if (problem.isPresent()) {
                throw new IllegalArgumentException("Cannot load tokenizer " + file + ": " + problem.get());
            }
        }
        for (JsonNode child : normalizer) checkNormalizer(child, file);
    }

    /** What is wrong with the base64 charsmap, or empty when every text walks the trie within bounds. */
    static Optional<String> problem(String base64) {
        byte[] bytes;
        try {
            bytes = Base64.getDecoder().decode(base64);
        } catch (IllegalArgumentException e) {
            return Optional.of("precompiled_charsmap is not base64: " + e.getMessage());
        }
        // the native decoder takes canonical, padded base64 only; Java's also takes unpadded and stray bits
        if (!Base64.getEncoder().encodeToString(bytes).equals(base64)) {
            return Optional.of("precompiled_charsmap is not canonical, padded base64");
        }
        ByteBuffer in = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        if (bytes.length < 4) return Optional.of("precompiled_charsmap has no trie size");
        long trieBytes = Integer.toUnsignedLong(in.getInt());
        if (trieBytes == 0 || trieBytes % 4 != 0 || trieBytes > bytes.length - 4) {
            return Optional.of("precompiled_charsmap's trie size " + trieBytes + " does not fit its "
                    + bytes.length + " bytes in whole units");
        }
        long[] units = new long[(int) (trieBytes / 4)];
        for (int i = 0; i < units.length; i++) units[i] = Integer.toUnsignedLong(in.getInt());
        byte[] normalized = new byte[in.remaining()];
        in.get(normalized);
        try {
            StandardCharsets.UTF_8.newDecoder().decode(ByteBuffer.wrap(normalized));
        } catch (CharacterCodingException e) {
            return Optional.of("precompiled_charsmap's replacement strings are not UTF-8");
        }
        return walk(units, normalized);
    }

    /**
     * Every state of the native trie walk (a node position, and how many bytes of a UTF-8 character are still to come:
     * the text is a Rust str) and every byte that can follow: each unit read must be inside the trie, each match must
     * end on a character and point at a replacement inside the strings, on a character boundary.
     */
    private static Optional<String> walk(long[] units, byte[] normalized) {
        Set<Long> seen = new HashSet<>();
        ArrayDeque<long[]> states = new ArrayDeque<>();
        states.add(new long[] {offset(units[0]), 0});
        while (!states.isEmpty()) {
            long[] state = states.poll();
            long node = state[0];
            int pending = (int) state[1];
            if (!seen.add(node * 4 + pending)) continue;
            for (int c = 1; c < 256; c++) {
                int after = utf8After(pending, c);
                if (after < 0) continue;
                long at = node ^ c;
                if (at >= units.length) return Optional.of("precompiled_charsmap's trie reads past its end");
                long unit = units[(int) at];
                if (label(unit) != c) continue;
                long next = at ^ offset(unit);
                if (hasLeaf(unit)) {
                    if (after != 0) return Optional.of("precompiled_charsmap's trie matches part of a character");
                    if (next >= units.length) return Optional.of("precompiled_charsmap's trie reads past its end");
                    long value = units[(int) next] & 0x7FFF_FFFFL;
                    boolean insideACharacter = value < normalized.length && (normalized[(int) value] & 0xC0) == 0x80;
                    if (value > normalized.length || insideACharacter) {
                        return Optional.of("precompiled_charsmap's trie points outside its replacement strings");
                    }
                }
                states.add(new long[] {next, after});
            }
        }
        return Optional.empty();
    }

    /** The UTF-8 continuation bytes still due after byte c, or -1 where c cannot come next in a valid text. */
    private static int utf8After(int pending, int c) {
        if (pending > 0) return (c & 0xC0) == 0x80 ? pending - 1 : -1;
        if (c < 0x80) return 0;
        if (c >= 0xC2 && c <= 0xDF) return 1;
        if (c >= 0xE0 && c <= 0xEF) return 2;
        if (c >= 0xF0 && c <= 0xF4) return 3;
        return -1;
    }

    private static boolean hasLeaf(long unit) {
        return ((unit >> 8) & 1) == 1;
    }

    private static long label(long unit) {
        return unit & ((1L << 31) | 0xFF);
    }

    private static long offset(long unit) {
        return (unit >> 10) << ((unit & (1 << 9)) >> 6);
    }
}
