package dev.moemesh.cli;

import dev.moemesh.wire.ApiKeyHashes;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.util.concurrent.Callable;

/**
 * {@code mesh api-key NAME}: a new API key, once, and the line of the router's key file that admits it, with the key's
 * own quota bounds if given (the router checks them at start, naming the line).
 */
@Command(name = "api-key", mixinStandardHelpOptions = true,
        description = {"Makes a new API key for the router. The key goes to stderr, once (give it to the client; nothing"
                + " stores it); the line that admits it goes to stdout, for the file router.api-keys-file names.",
                "Bounds left out are router.key-defaults.* (docs/operations.md).",
                "Example: mesh api-key alice --rate 10/s --concurrency 4 >> keys.txt"})
final class ApiKeyCommand implements Callable<Integer> {

    @Parameters(paramLabel = "NAME", description = "who the key is for: one word, shown in the key file")
    String name;

    @Option(names = "--rate", paramLabel = "N/UNIT", description = "requests per second, minute or hour: 10/s, 600/m")
    String rate;

    @Option(names = "--concurrency", paramLabel = "N", description = "generations in flight at once")
    Integer concurrency;

    @Option(names = "--max-tokens", paramLabel = "N", description = "the largest max_tokens a request may ask for")
    Integer maxTokens;

    @Option(names = "--max-body", paramLabel = "SIZE", description = "the largest request: bytes, or 64K, 1M")
    String maxBody;

    @Override
    public Integer call() {
        StringBuilder bounds = new StringBuilder();
        if (rate != null) bounds.append(" rate=").append(rate);
        if (concurrency != null) bounds.append(" concurrency=").append(concurrency);
        if (maxTokens != null) bounds.append(" max-tokens=").append(maxTokens);
        if (maxBody != null) bounds.append(" max-body=").append(maxBody);
        // the router reads these at start and stops naming the line; refused here too, so no line is made that it refuses
        if (!bounds.toString().matches("( rate=[1-9][0-9]*/[smh])?( concurrency=[1-9][0-9]*)?( max-tokens=[1-9][0-9]*)?"
                + "( max-body=[1-9][0-9]*[KkMmGg]?)?")) {
            System.err.println("mesh api-key: --rate takes N/s, N/m or N/h, --concurrency and --max-tokens a whole"
                    + " number from 1, --max-body bytes or with K, M or G; got" + bounds);
            return 2;
        }
        String key = ApiKeyHashes.newKey();
        System.err.println("key for " + name + " (shown once; the router keeps only its hash):");
        System.err.println(key);
        System.out.println(ApiKeyHashes.line(name, key) + bounds);
        return 0;
    }
}
