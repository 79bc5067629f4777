package dev.moemesh.core.safetensors;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.databind.ObjectMapper;

/** The one JSON mapper for headers and index files. */
final class HeaderJson {

    /** A header naming a tensor twice is corrupt, not something to resolve by keeping the last entry. */
    static final ObjectMapper MAPPER = new ObjectMapper().enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION);

    private HeaderJson() {
    }
}
