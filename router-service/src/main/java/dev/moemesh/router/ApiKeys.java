package dev.moemesh.router;

import jakarta.inject.Inject;
import jakarta.inject.Singleton;

import java.util.List;
import java.util.Optional;

/** The API keys of {@code router.api-keys}: when any are set, both doors need {@code Bearer <key>}. */
@Singleton
public class ApiKeys {
    private final List<String> keys;

    @Inject
    public ApiKeys(RouterSettings settings) {
        this.keys = settings.apiKeys().orElse(List.of());
    }

    /** Why a request with this {@code Authorization} value (null when absent) is refused; empty when it may pass. */
    public Optional<String> refusal(String authorization) {
        if (keys.isEmpty()) return Optional.empty();
        String key = authorization != null && authorization.regionMatches(true, 0, "Bearer ", 0, 7)
                ? authorization.substring(7).strip() : null;
        if (key == null) return Optional.of("no API key: send the header 'Authorization: Bearer <key>'");
        return keys.contains(key) ? Optional.empty() : Optional.of("the API key is not valid");
    }
}
