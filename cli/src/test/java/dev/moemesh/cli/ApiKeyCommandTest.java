package dev.moemesh.cli;

import dev.moemesh.wire.ApiKeyHashes;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ApiKeyCommandTest {

    @Test
    void printsTheKeyOnStderrAndOnlyItsHashLineOnStdout() {
        String[] first = run("alice");
        String[] second = run("alice");

        String key = first[1].lines().reduce((a, b) -> b).orElseThrow();
        assertTrue(key.startsWith("mm-") && key.length() > 40, key);
        assertEquals("alice " + ApiKeyHashes.PREFIX + ApiKeyHashes.hash(key), first[0].strip());
        assertTrue(!first[0].contains(key), "the key file line holds the key");
        assertNotEquals(first[0], second[0], "two keys alike");
    }

    @Test
    void theKeysOwnBoundsFollowItsHashOnTheLine() {
        String line = run("bob", "--rate", "10/s", "--concurrency", "4", "--max-tokens", "512", "--max-body", "64K")[0]
                .strip();

        assertTrue(line.matches("bob sha256:[0-9a-f]{64} rate=10/s concurrency=4 max-tokens=512 max-body=64K"), line);
        assertEquals(2, MeshCli.run("api-key", "bob", "--rate", "10/d"), "a rate per day is not one the router reads");
        assertEquals(2, MeshCli.run("api-key", "bob", "--concurrency", "0"));
    }

    @Test
    void aNameOfTwoWordsIsRefused() {
        assertEquals(1, MeshCli.run("api-key", "alice smith"));
    }

    private static String[] run(String... args) {
        PrintStream out = System.out;
        PrintStream err = System.err;
        ByteArrayOutputStream stdout = new ByteArrayOutputStream();
        ByteArrayOutputStream stderr = new ByteArrayOutputStream();
        try {
            System.setOut(new PrintStream(stdout, true, StandardCharsets.UTF_8));
            System.setErr(new PrintStream(stderr, true, StandardCharsets.UTF_8));
            String[] full = new String[args.length + 1];
            full[0] = "api-key";
            System.arraycopy(args, 0, full, 1, args.length);
            assertEquals(0, MeshCli.run(full));
        } finally {
            System.setOut(out);
            System.setErr(err);
        }
        return new String[] {stdout.toString(StandardCharsets.UTF_8), stderr.toString(StandardCharsets.UTF_8)};
    }
}
