package dev.moemesh.cli;

import dev.moemesh.wire.ApiKeyHashes;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

import java.util.concurrent.Callable;

/** {@code mesh api-key NAME}: a new API key, once, and the line of the router's key file that admits it. */
@Command(name = "api-key", mixinStandardHelpOptions = true,
        description = {"Makes a new API key for the router. The key goes to stderr, once (give it to the client; nothing"
                + " stores it); the line that admits it goes to stdout, for the file router.api-keys-file names.",
                "Example: mesh api-key alice >> keys.txt"})
final class ApiKeyCommand implements Callable<Integer> {

    @Parameters(paramLabel = "NAME", description = "who the key is for: one word, shown in the key file")
    String name;

    @Override
    public Integer call() {
        String key = ApiKeyHashes.newKey();
        String line = ApiKeyHashes.line(name, key);
        System.err.println("key for " + name + " (shown once; the router keeps only its hash):");
        System.err.println(key);
        System.out.println(line);
        return 0;
    }
}
