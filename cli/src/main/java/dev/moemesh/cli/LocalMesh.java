package dev.moemesh.cli;

import dev.moemesh.proto.AttentionServiceGrpc;
import dev.moemesh.proto.DescribeRequest;
import dev.moemesh.proto.ExpertServiceGrpc;
import dev.moemesh.proto.GetAttentionStatsRequest;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Service processes of a mesh on this machine: expert services and attention services started from their packaged
 * Quarkus applications, each a separate JVM on loopback ports with its log in {@code logs}. Closing it stops them.
 */
public final class LocalMesh implements AutoCloseable {
    private final Path home;
    private final Path logs;
    private final List<String> jvmOptions;
    private final List<Service> services = new ArrayList<>();

    /** A started service: its gRPC address, process and log. */
    public record Service(String name, String address, int grpcPort, int httpPort, Process process, Path log) {
        /** Ends the process at once, as a crash would (SIGKILL). */
        public void kill() {
            process.destroyForcibly();
            try {
                process.waitFor(30, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /**
     * @param home the repository root (where expert-service/ and attention-service/ were built)
     * @param logs where each service's output goes, one file per service
     */
    public LocalMesh(Path home, Path logs, List<String> jvmOptions) {
        this.home = home;
        this.logs = logs;
        this.jvmOptions = List.copyOf(jvmOptions);
        for (String module : List.of("expert-service", "attention-service")) {
            if (!Files.isRegularFile(app(module))) {
                throw new IllegalStateException(app(module) + " is missing: build the services first (./mvnw -B package"
                        + " -DskipTests -pl attention-service,expert-service -am)");
            }
        }
        try {
            Files.createDirectories(logs);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The repository root as ./mesh and the build tell it ({@code mesh.home}), else the working directory. */
    public static Path home() {
        return Path.of(System.getProperty("mesh.home", ".")).toAbsolutePath().normalize();
    }

    /** A TCP port free right now on loopback. */
    public static int freePort() {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * The experts of expert service {@code i} of {@code n} that split every MoE layer's {@code experts} routed
     * experts into contiguous, disjoint slices, in {@code expert.experts} syntax ({@code *:0-15}).
     */
    public static String slice(int i, int n, int experts) {
        if (n < 1 || n > experts) {
            throw new IllegalArgumentException(n + " expert services cannot split " + experts + " routed experts per layer");
        }
        return "*:" + (i * experts / n) + "-" + ((i + 1) * experts / n - 1);
    }

    private Path app(String module) {
        return home.resolve(module).resolve("target/quarkus-app/quarkus-run.jar");
    }

    /** Starts an expert service holding {@code experts} (expert.experts syntax) and waits until it answers. */
    public Service startExpertService(String name, Path model, String experts, int grpcPort, Duration ready) {
        return startExpertService(name, model, experts, grpcPort, List.of(), ready);
    }

    /** As above, with JVM options of its own (after the mesh's), e.g. {@code -Dmoemesh.threads=1}. */
    public Service startExpertService(String name, Path model, String experts, int grpcPort, List<String> javaOptions,
                                      Duration ready) {
        List<String> props = new ArrayList<>(javaOptions);
        props.add("-Dexpert.model-dir=" + model.toAbsolutePath());
        props.add("-Dexpert.experts=" + experts);
        Service s = start(name, "expert-service", grpcPort, props);
        awaitReady(s, ready, channel -> ExpertServiceGrpc.newBlockingStub(channel).withDeadlineAfter(2, TimeUnit.SECONDS)
                .describe(DescribeRequest.getDefaultInstance()));
        return s;
    }

    /** Starts an attention service using these expert services (none: experts in its own process). */
    public Service startAttentionService(String name, Path model, List<String> expertAddresses, int grpcPort,
                                         List<String> extraProperties, Duration ready) {
        List<String> props = new ArrayList<>(List.of("-Dattention.model-dir=" + model.toAbsolutePath()));
        if (!expertAddresses.isEmpty()) props.add("-Dattention.expert-services=" + String.join(",", expertAddresses));
        props.addAll(extraProperties);
        Service s = start(name, "attention-service", grpcPort, props);
        awaitReady(s, ready, channel -> AttentionServiceGrpc.newBlockingStub(channel)
                .withDeadlineAfter(2, TimeUnit.SECONDS).getAttentionStats(GetAttentionStatsRequest.getDefaultInstance()));
        return s;
    }

    public List<Service> services() {
        return List.copyOf(services);
    }

    private Service start(String name, String module, int grpcPort, List<String> properties) {
        int httpPort = freePort();
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.addAll(List.of("--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "-Djdk.incubator.vector.VECTOR_ACCESS_OOB_CHECK=0"));
        // Netty still reaches for sun.misc.Unsafe; JDK 24+ warn about it at every start unless allowed
        if (Runtime.version().feature() >= 24) command.add("--sun-misc-unsafe-memory-access=allow");
        command.addAll(jvmOptions);
        command.add("-Dquarkus.grpc.server.port=" + grpcPort);
        command.add("-Dquarkus.http.port=" + httpPort);
        command.addAll(properties);
        command.addAll(List.of("-jar", app(module).toString()));
        Path log = logs.resolve(name + ".log");
        try {
            Process p = new ProcessBuilder(command).directory(home.toFile()).redirectErrorStream(true)
                    .redirectOutput(log.toFile()).start();
            Service s = new Service(name, "localhost:" + grpcPort, grpcPort, httpPort, p, log);
            services.add(s);
            return s;
        } catch (IOException e) {
            throw new UncheckedIOException("could not start " + module + ": " + e.getMessage(), e);
        }
    }

    private interface Probe {
        void call(ManagedChannel channel);
    }

    private static void awaitReady(Service s, Duration limit, Probe probe) {
        long deadline = System.nanoTime() + limit.toNanos();
        ManagedChannel channel = NettyChannelBuilder.forTarget(s.address()).usePlaintext().build();
        try {
            while (true) {
                if (!s.process().isAlive()) {
                    throw new IllegalStateException(s.name() + " exited with code " + s.process().exitValue()
                            + " before it was ready:" + tail(s.log()));
                }
                try {
                    probe.call(channel);
                    return;
                } catch (StatusRuntimeException notYet) {
                    if (System.nanoTime() > deadline) {
                        throw new IllegalStateException(s.name() + " did not answer on " + s.address() + " within "
                                + limit.toSeconds() + " s:" + tail(s.log()));
                    }
                    Thread.sleep(200);
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while starting " + s.name());
        } finally {
            channel.shutdownNow();
        }
    }

    /** The last lines of a log, for error messages. */
    static String tail(Path log) {
        try {
            List<String> lines = Files.readAllLines(log);
            return "\n  " + String.join("\n  ", lines.subList(Math.max(0, lines.size() - 8), lines.size()))
                    + "\n  (whole log: " + log + ")";
        } catch (IOException e) {
            return " (no log at " + log + ")";
        }
    }

    /** Stops every service: attention services first, then expert services; politely, then by force. */
    @Override
    public void close() {
        List<Service> reversed = new ArrayList<>(services);
        java.util.Collections.reverse(reversed);
        for (Service s : reversed) s.process().destroy();
        for (Service s : reversed) {
            try {
                if (!s.process().waitFor(10, TimeUnit.SECONDS)) s.kill();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                s.kill();
            }
        }
        services.clear();
    }
}
