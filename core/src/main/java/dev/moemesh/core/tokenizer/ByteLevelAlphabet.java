package dev.moemesh.core.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * GPT-2's byte-to-unicode table, which byte-level BPE uses so that every byte of UTF-8 text is one
 * printable symbol and no text is ever out of vocabulary.
 */
final class ByteLevelAlphabet {

    /** symbol for each byte value 0..255 */
    private static final String[] SYMBOLS = buildSymbols();

    private ByteLevelAlphabet() {}

    static String symbol(int unsignedByte) {
        return SYMBOLS[unsignedByte];
    }

    /** The text's UTF-8 bytes, one symbol each. */
    static List<String> symbols(String text) {
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        List<String> symbols = new ArrayList<>(bytes.length);
        for (byte b : bytes) {
            symbols.add(SYMBOLS[b & 0xff]);
        }
        return symbols;
    }

    private static String[] buildSymbols() {
        // printable Latin-1 bytes stand for themselves; the rest (controls, space, a few others)
        // are shifted to code points 256 and up, in byte order, exactly as in GPT-2's bytes_to_unicode
        String[] symbols = new String[256];
        int shifted = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            symbols[b] = Character.toString(printable ? b : 256 + shifted++);
        }
        return symbols;
    }
}
