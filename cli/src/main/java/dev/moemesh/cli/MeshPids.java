package dev.moemesh.cli;

import dev.moemesh.localmesh.LocalMesh;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * {@code <home>/processes}: the process of each service {@code mesh up} started, one line each, {@code name pid
 * address}, so that a tool ({@code mesh chaos}) can find a service by the name {@code mesh up} printed.
 */
final class MeshPids {
    static final String FILE = "processes";

    private MeshPids() {
    }

    static synchronized void write(Path home, List<LocalMesh.Service> services) {
        List<String> lines = new ArrayList<>();
        for (LocalMesh.Service s : services) lines.add(s.name() + " " + s.process().pid() + " " + s.address());
        try {
            Files.createDirectories(home);
            Files.write(home.resolve(FILE), lines);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + home.resolve(FILE) + ": " + e.getMessage(), e);
        }
    }

    /** The live process {@code mesh up} started as {@code name}, by the list under {@code home}. */
    static ProcessHandle find(Path home, String name) {
        Path file = home.resolve(FILE);
        List<String> lines;
        try {
            lines = Files.readAllLines(file);
        } catch (IOException e) {
            throw new IllegalArgumentException("no " + file + ": is a mesh up with --home " + home + "? ("
                    + e.getMessage() + ")");
        }
        List<String> names = new ArrayList<>();
        for (String line : lines) {
            String[] f = line.strip().split("\\s+");
            if (f.length < 2) continue;
            names.add(f[0]);
            if (!f[0].equals(name)) continue;
            Optional<ProcessHandle> process = ProcessHandle.of(Long.parseLong(f[1]));
            if (process.isEmpty() || !process.get().isAlive()) {
                throw new IllegalArgumentException(name + " (pid " + f[1] + ", " + file + ") is not running");
            }
            return process.get();
        }
        throw new IllegalArgumentException("no process '" + name + "' in " + file + ": one of " + names);
    }
}
