package dev.moemesh.localmesh;

import dev.moemesh.proto.AttentionServiceGrpc;
import dev.moemesh.proto.DescribeRequest;
import dev.moemesh.proto.ExpertServiceGrpc;
import dev.moemesh.proto.GetAttentionStatsRequest;
import dev.moemesh.tls.MeshCertificates;
import dev.moemesh.tls.MeshChannels;
import dev.moemesh.tls.MeshRole;
import io.grpc.ManagedChannel;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

/**
 * Processes of a mesh on this machine: expert services, attention services, the orchestrator and the router started
 * from their packaged Quarkus applications, and a Kafka broker from Apache Kafka's own jars; each a separate JVM on
 * loopback ports with its log in {@code logs}. Closing it stops them, the last started first.
 */
public final class LocalMesh implements AutoCloseable {
    private final Path home;
    private final Path logs;
    private final List<String> jvmOptions;
    private final List<Service> services = new CopyOnWriteArrayList<>();
    private final Map<String, List<String>> commands = new ConcurrentHashMap<>();
    private volatile boolean closing;
    private final java.util.Set<String> recordingAot = new java.util.HashSet<>();
    /** where its certificates are and the CA that issues them; null: plaintext */
    private Path tlsDir;
    private MeshCertificates ca;
    /** how it reaches its services to see them ready: plaintext, or as an operator */
    private MeshChannels probes = MeshChannels.PLAINTEXT;

    /** The password of the PKCS12 files {@link #overTls} writes (they guard a throwaway local CA's keys). */
    public static final String TLS_STORE_PASSWORD = "moemesh-local";
    private static final List<String> LOOPBACK = List.of("localhost", "127.0.0.1");
    /** Every port {@link #freePort} returned, or found taken, in this process. */
    private static final Set<Integer> ISSUED_PORTS = ConcurrentHashMap.newKeySet();
    /** The ports {@link #freePort} picks from, or null: the system leaves too few outside its ephemeral range. */
    static final PortRange PORTS = PortRange.outsideEphemeral(ephemeralRange());

    /**
     * A started process: where clients reach it ({@code host:port}: gRPC; the broker's bootstrap servers; the
     * orchestrator's HTTP), its ports (0 where it has none), process and log.
     */
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
     * @param home the repository root (where the services were built: {@code <module>/target/quarkus-app})
     * @param logs where each service's output goes, one file per service
     */
    public LocalMesh(Path home, Path logs, List<String> jvmOptions) {
        this.home = home;
        this.logs = logs;
        this.jvmOptions = List.copyOf(jvmOptions);
        try {
            Files.createDirectories(logs);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Runs every service it starts from now on over mutual TLS: a new local CA in {@code dir} ({@code ca.p12}, the
     * trust store, and {@code ca.pem}), and a certificate per service naming its role and instance
     * ({@code <name>.p12}, given to the service as {@code quarkus.tls.mesh.*}), and {@code operator.p12} for the
     * tools ({@code mesh} commands, this class's readiness probes). Expert and attention services get
     * {@code <prefix>.instance-id=<name>}, the instance their certificate speaks for.
     */
    public LocalMesh overTls(Path dir) {
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        this.tlsDir = dir;
        this.ca = MeshCertificates.newCa("moemesh local CA");
        ca.writeTrustStore(dir.resolve("ca.p12"), TLS_STORE_PASSWORD.toCharArray());
        ca.writeCertificatePem(dir.resolve("ca.pem"));
        MeshCertificates.Issued operator = ca.issue("operator", Set.of(MeshRole.OPERATOR), Set.of(), LOOPBACK);
        operator.writePkcs12(dir.resolve("operator.p12"), TLS_STORE_PASSWORD.toCharArray());
        this.probes = MeshChannels.tls(operator.meshTls());
        return this;
    }

    /**
     * Mutual TLS on a new certificate of this mesh's CA naming {@code role} (and no instance), e.g. a door's to call an
     * attention service as the router does; {@link #overTls} first.
     */
    public MeshChannels channelsAs(String name, MeshRole role) {
        if (ca == null) throw new IllegalStateException("this mesh is not over TLS: call overTls first");
        return MeshChannels.tls(ca.issue(name, Set.of(role), Set.of(), LOOPBACK).meshTls());
    }

    /** Plaintext, or mutual TLS as an operator when {@link #overTls} was called: how a tool reaches its services. */
    public MeshChannels channels() {
        return probes;
    }

    /** The certificate of a service: its role, the instance it is (its name) and the loopback names. */
    private List<String> tlsProperties(String name, MeshRole role, String instancePrefix) {
        if (ca == null) return List.of();
        Path keyStore = tlsDir.resolve(name + ".p12");
        ca.issue(name, Set.of(role), Set.of(name), LOOPBACK).writePkcs12(keyStore, TLS_STORE_PASSWORD.toCharArray());
        List<String> props = new ArrayList<>(List.of(
                "-Dquarkus.tls.mesh.key-store.p12.path=" + keyStore.toAbsolutePath(),
                "-Dquarkus.tls.mesh.key-store.p12.password=" + TLS_STORE_PASSWORD,
                "-Dquarkus.tls.mesh.trust-store.p12.path=" + tlsDir.resolve("ca.p12").toAbsolutePath(),
                "-Dquarkus.tls.mesh.trust-store.p12.password=" + TLS_STORE_PASSWORD));
        if (instancePrefix != null) props.add("-D" + instancePrefix + ".instance-id=" + name);
        return props;
    }

    /** The repository root as ./mesh and the build tell it ({@code mesh.home}), else the working directory. */
    public static Path home() {
        return Path.of(System.getProperty("mesh.home", ".")).toAbsolutePath().normalize();
    }

    /**
     * A TCP port free right now that no earlier call in this process returned, taken outside the system's ephemeral
     * range ({@link #PORTS}). Two races made a service fail to start ("Port ... seems to be in use"): the system hands
     * a closed probe's ephemeral port out again, so two of a service's ports (gRPC and HTTP) or two services' collided
     * (once in a full test run); and between this call and the service's bind, any process's outgoing connection
     * (a Kafka client, a gRPC channel: a mesh opens dozens) may take the port as its local one, which it can only do
     * inside the ephemeral range.
     */
    public static int freePort() {
        if (PORTS == null) return ephemeralFreePort();
        for (int attempt = 0; attempt < 10_000; attempt++) {
            int port = PORTS.from() + ThreadLocalRandom.current().nextInt(PORTS.to() - PORTS.from() + 1);
            if (ISSUED_PORTS.add(port) && bindable(port)) return port;
        }
        throw new IllegalStateException("no free port left between " + PORTS.from() + " and " + PORTS.to());
    }

    /** Ports from {@code from} to {@code to}, both included. */
    record PortRange(int from, int to) {
        /** The lowest port picked: below it lie most fixed ports of well-known servers. */
        static final int LOWEST = 10_000;
        /** Fewer ports than this to pick from, and picking at random would collide with itself. */
        static final int ENOUGH = 2_000;

        /** The larger stretch of [{@link #LOWEST}, 65535] below or above {@code ephemeral}, null if neither has enough. */
        static PortRange outsideEphemeral(PortRange ephemeral) {
            PortRange below = new PortRange(LOWEST, ephemeral.from() - 1);
            PortRange above = new PortRange(Math.max(LOWEST, ephemeral.to() + 1), 65_535);
            PortRange larger = below.size() >= above.size() ? below : above;
            return larger.size() >= ENOUGH ? larger : null;
        }

        int size() {
            return Math.max(0, to - from + 1);
        }

        boolean contains(int port) {
            return port >= from && port <= to;
        }
    }

    /**
     * The range the system takes local ports of outgoing connections from: Linux says so in {@code
     * /proc/sys/net/ipv4/ip_local_port_range} (32768-60999 unless changed); elsewhere 32768-65535 covers Linux's
     * default and IANA's dynamic ports (49152-65535, macOS's and Windows' default).
     */
    static PortRange ephemeralRange() {
        Path linux = Path.of("/proc/sys/net/ipv4/ip_local_port_range");
        try {
            String[] bounds = Files.readString(linux).trim().split("\\s+");
            return new PortRange(Integer.parseInt(bounds[0]), Integer.parseInt(bounds[1]));
        } catch (IOException | RuntimeException e) {
            return new PortRange(32_768, 65_535);
        }
    }

    /** Whether a server could listen on {@code port} on every address now. */
    private static boolean bindable(int port) {
        try (ServerSocket s = new ServerSocket(port)) {
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    /** The fallback where the system leaves no range of its own: a port it offers, not handed out before. */
    private static int ephemeralFreePort() {
        for (int attempt = 0; ; attempt++) {
            int port;
            try (ServerSocket s = new ServerSocket(0)) {
                port = s.getLocalPort();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            if (ISSUED_PORTS.add(port)) return port;
            if (attempt == 1000) throw new IllegalStateException("no port left that this process has not handed out");
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
        Path jar = home.resolve(module).resolve("target/quarkus-app/quarkus-run.jar");
        if (!Files.isRegularFile(jar)) {
            throw new IllegalStateException(jar + " is missing: build the services first (./mvnw -B package -DskipTests"
                    + " -pl " + module + " -am)");
        }
        return jar;
    }

    /** Starts an expert service holding {@code experts} (expert.experts syntax) and waits until it answers. */
    public Service startExpertService(String name, Path model, String experts, int grpcPort, Duration ready) {
        return startExpertService(name, model, experts, grpcPort, List.of(), ready);
    }

    /** As above, with JVM options of its own (after the mesh's), e.g. {@code -Dmoemesh.threads=1}. */
    public Service startExpertService(String name, Path model, String experts, int grpcPort, List<String> javaOptions,
                                      Duration ready) {
        List<String> props = new ArrayList<>(tlsProperties(name, MeshRole.EXPERT, "expert"));
        props.addAll(javaOptions);
        props.add("-Dexpert.model-dir=" + model.toAbsolutePath());
        props.add("-Dexpert.experts=" + experts);
        Service s = startQuarkus(name, "expert-service", grpcPort, props);
        awaitReady(s, ready, () -> grpcProbe(s, MeshRole.EXPERT, channel -> ExpertServiceGrpc.newBlockingStub(channel)
                .withDeadlineAfter(2, TimeUnit.SECONDS).describe(DescribeRequest.getDefaultInstance())));
        return s;
    }

    /** Starts an attention service using these expert services (none: experts in its own process). */
    public Service startAttentionService(String name, Path model, List<String> expertAddresses, int grpcPort,
                                         List<String> extraProperties, Duration ready) {
        List<String> props = new ArrayList<>(tlsProperties(name, MeshRole.ATTENTION, "attention"));
        props.add("-Dattention.model-dir=" + model.toAbsolutePath());
        if (!expertAddresses.isEmpty()) props.add("-Dattention.expert-services=" + String.join(",", expertAddresses));
        props.addAll(extraProperties);
        Service s = startQuarkus(name, "attention-service", grpcPort, props);
        awaitReady(s, ready, () -> grpcProbe(s, MeshRole.ATTENTION, channel -> AttentionServiceGrpc.newBlockingStub(channel)
                .withDeadlineAfter(2, TimeUnit.SECONDS).getAttentionStats(GetAttentionStatsRequest.getDefaultInstance())));
        return s;
    }

    /**
     * Starts a single-node Apache Kafka broker (KRaft, broker and controller in one process) listening on
     * {@code port}, with a fresh log directory under {@code dataDir}, and waits until it answers a metadata request.
     * Its address is the bootstrap servers string.
     */
    public Service startBroker(String name, Path dataDir, int port, Duration ready) {
        Path properties = KafkaBroker.configure(dataDir, port, freePort());
        List<String> format = KafkaBroker.formatCommand(properties);
        Path formatLog = logs.resolve(name + "-format.log");
        try {
            Process p = new ProcessBuilder(javaCommand(List.of(KafkaBroker.loggingOption(properties), "-cp",
                    System.getProperty("java.class.path")), format))
                    .directory(home.toFile()).redirectErrorStream(true).redirectOutput(formatLog.toFile()).start();
            if (!p.waitFor(2, TimeUnit.MINUTES) || p.exitValue() != 0) {
                p.destroyForcibly();
                throw new IllegalStateException("could not format the Kafka log directory " + dataDir + ": "
                        + new ServiceLog(formatLog).cause() + " (log: " + formatLog + ")");
            }
        } catch (IOException e) {
            throw new UncheckedIOException("could not start Kafka's storage tool: " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while formatting " + dataDir);
        }
        Service s = launch(name, "localhost:" + port, port, 0, javaCommand(List.of("-Xmx512m",
                KafkaBroker.loggingOption(properties), "-cp", System.getProperty("java.class.path")),
                KafkaBroker.serverCommand(properties)));
        awaitReady(s, ready, () -> KafkaBroker.probe(s.address()));
        return s;
    }

    /**
     * Starts the orchestrator: the Kafka front door on {@code bootstrapServers}, running requests on these attention
     * services, with the checkpoint's tokenizer for text prompts; waits until its readiness check is up.
     */
    public Service startOrchestrator(String name, Path model, String bootstrapServers, List<String> attentionAddresses,
                                     int httpPort, Duration ready) {
        return startOrchestrator(name, model, bootstrapServers, attentionAddresses, httpPort, 0, List.of(), ready);
    }

    /**
     * As above, with its ControlPlane service on {@code grpcPort} (0: its default, 9400) and properties of its own
     * after the others, e.g. {@code -Dorchestrator.control-plane.heartbeat-interval=300ms}.
     */
    public Service startOrchestrator(String name, Path model, String bootstrapServers, List<String> attentionAddresses,
                                     int httpPort, int grpcPort, List<String> extraProperties, Duration ready) {
        Service s = launchOrchestrator(name, model, bootstrapServers, attentionAddresses, httpPort, grpcPort,
                extraProperties);
        awaitReady(s, ready, () -> httpReady(httpPort));
        return s;
    }

    /** As above, without waiting for anything: e.g. an orchestrator whose broker is not up yet never gets ready. */
    public Service launchOrchestrator(String name, Path model, String bootstrapServers, List<String> attentionAddresses,
                                      int httpPort, int grpcPort, List<String> extraProperties) {
        List<String> props = new ArrayList<>(tlsProperties(name, MeshRole.ORCHESTRATOR, null));
        props.addAll(List.of("-Dquarkus.http.port=" + httpPort,
                "-Dorchestrator.bootstrap-servers=" + bootstrapServers,
                "-Dorchestrator.attention-services=" + String.join(",", attentionAddresses),
                "-Dorchestrator.model-dir=" + model.toAbsolutePath()));
        if (grpcPort != 0) props.add("-Dquarkus.grpc.server.port=" + grpcPort);
        props.addAll(extraProperties);
        return launch(name, "localhost:" + httpPort, grpcPort, httpPort, javaCommand(props, "orchestrator"));
    }

    /**
     * Starts the router: REST (OpenAI's API) on {@code httpPort} and the gRPC {@code InferenceService} on
     * {@code grpcPort}, over these attention services; waits until its readiness check is up.
     */
    public Service startRouter(String name, Path model, List<String> attentionAddresses, int grpcPort, int httpPort,
                               Duration ready) {
        return startRouter(name, model, attentionAddresses, grpcPort, httpPort, List.of(), ready);
    }

    /** As above, with properties of its own after the others, e.g. {@code -Drouter.api-keys=...}. */
    public Service startRouter(String name, Path model, List<String> attentionAddresses, int grpcPort, int httpPort,
                               List<String> extraProperties, Duration ready) {
        List<String> props = new ArrayList<>(tlsProperties(name, MeshRole.ROUTER, null));
        props.addAll(List.of("-Dquarkus.http.port=" + httpPort,
                "-Dquarkus.grpc.server.port=" + grpcPort,
                "-Drouter.attention-services=" + String.join(",", attentionAddresses),
                "-Drouter.model-dir=" + model.toAbsolutePath()));
        props.addAll(extraProperties);
        Service s = launch(name, "localhost:" + grpcPort, grpcPort, httpPort, javaCommand(props, "router-service"));
        awaitReady(s, ready, () -> httpReady(httpPort));
        return s;
    }

    /**
     * Waits until a started Quarkus service's {@code /q/health/ready} answers 200, e.g. an attention service that
     * follows a control plane, ready once a placement covers every routed expert.
     */
    public void awaitHealthReady(Service s, Duration limit) {
        awaitReady(s, limit, () -> httpReady(s.httpPort()));
    }

    public List<Service> services() {
        return List.copyOf(services);
    }

    private Service startQuarkus(String name, String module, int grpcPort, List<String> properties) {
        int httpPort = freePort();
        List<String> props = new ArrayList<>(List.of("-Dquarkus.grpc.server.port=" + grpcPort,
                "-Dquarkus.http.port=" + httpPort));
        props.addAll(properties);
        return launch(name, "localhost:" + grpcPort, grpcPort, httpPort, javaCommand(props, module));
    }

    /**
     * {@code java}, the options every service process gets, then {@code options} and the module's packaged jar. Its
     * log is a file read by people, so plain lines rather than the JSON of production (an option can turn it back).
     * The services of a local mesh share this machine's cores, so their compute threads park as soon as a job is
     * done instead of spinning for the next one: measured with {@code mesh bench --mesh 2} on 2 cores, batch-1
     * decode through the mesh rose 10-20 % and the expert calls' overhead fell 15-25 % (docs/benchmarks.md).
     */
    private List<String> javaCommand(List<String> options, String module) {
        List<String> all = new ArrayList<>(List.of("-Dquarkus.log.console.json.enabled=false", "-Dmoemesh.spin-nanos=0"));
        all.addAll(aotCache(module));
        all.addAll(options);
        return javaCommand(all, List.of("-jar", app(module).toString()));
    }

    /**
     * JDK 25's ahead-of-time cache of a service (classes loaded and linked, method profiles), beside its packaged jar:
     * the first process of the module after a build records it as it exits, later ones start from it. Only one
     * process of a module records, so two never write the same file.
     */
    private List<String> aotCache(String module) {
        if (Runtime.version().feature() < 25 || "0".equals(System.getenv("MESH_AOT"))) return List.of();
        Path jar = app(module);
        Path cache = jar.resolveSibling("app.aot");
        try {
            if (Files.isRegularFile(cache) && Files.getLastModifiedTime(cache).compareTo(Files.getLastModifiedTime(jar)) > 0) {
                return List.of("-XX:AOTCache=" + cache);
            }
        } catch (IOException e) {
            return List.of();
        }
        if (!recordingAot.add(module)) return List.of();
        return List.of("-XX:AOTCacheOutput=" + cache, "-Xlog:aot=off", "-Xlog:cds=off");
    }

    private List<String> javaCommand(List<String> options, List<String> main) {
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.addAll(List.of("--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "-Djdk.incubator.vector.VECTOR_ACCESS_OOB_CHECK=0"));
        // Netty still reaches for sun.misc.Unsafe; JDK 24+ warn about it at every start unless allowed
        if (Runtime.version().feature() >= 24) command.add("--sun-misc-unsafe-memory-access=allow");
        command.addAll(jvmOptions);
        command.addAll(options);
        command.addAll(main);
        return command;
    }

    private Service launch(String name, String address, int grpcPort, int httpPort, List<String> command) {
        Path log = logs.resolve(name + ".log");
        try {
            Process p = new ProcessBuilder(command).directory(home.toFile()).redirectErrorStream(true)
                    .redirectOutput(log.toFile()).start();
            Service s = new Service(name, address, grpcPort, httpPort, p, log);
            services.add(s);
            commands.put(name, List.copyOf(command));
            return s;
        } catch (IOException e) {
            throw new UncheckedIOException("could not start " + name + ": " + e.getMessage(), e);
        }
    }

    /** Whether {@link #close} has begun: the services exit because they are being stopped. */
    public boolean closing() {
        return closing;
    }

    /**
     * Starts a service that exited again, as Kubernetes restarts a crashed pod: its command as first started (same
     * name, ports and properties; its log goes on in the same file), then waits for {@code /q/health/ready}. It takes
     * the dead one's place in {@link #services()}. Quarkus services only: the broker formats its storage on start.
     *
     * @throws IllegalStateException when {@code dead} still runs, is not this mesh's, has no HTTP port, or the mesh is
     *                               closing
     */
    public Service restart(Service dead, Duration ready) {
        if (closing) throw new IllegalStateException("the mesh is stopping: " + dead.name() + " is not restarted");
        if (dead.process().isAlive()) throw new IllegalStateException(dead.name() + " still runs");
        List<String> command = commands.get(dead.name());
        if (command == null || !services.contains(dead)) {
            throw new IllegalStateException(dead.name() + " was not started by this mesh");
        }
        if (dead.httpPort() == 0) throw new IllegalStateException(dead.name() + " is not a Quarkus service: not restarted");
        Service s;
        try {
            Process p = new ProcessBuilder(command).directory(home.toFile()).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(dead.log().toFile())).start();
            s = new Service(dead.name(), dead.address(), dead.grpcPort(), dead.httpPort(), p, dead.log());
        } catch (IOException e) {
            throw new UncheckedIOException("could not start " + dead.name() + " again: " + e.getMessage(), e);
        }
        services.set(services.indexOf(dead), s);
        awaitReady(s, ready, () -> httpReady(s.httpPort()));
        return s;
    }

    private interface Probe {
        /** Returns when the service answers; throws anything while it does not yet. */
        void call() throws Exception;
    }

    private interface GrpcCall {
        void call(ManagedChannel channel);
    }

    private void grpcProbe(Service s, MeshRole role, GrpcCall call) {
        ManagedChannel channel = probes.forTarget(s.address(), role).build();
        try {
            call.call(channel);
        } finally {
            channel.shutdownNow();
        }
    }

    private static void httpReady(int port) throws IOException, InterruptedException {
        try (HttpClient http = HttpClient.newHttpClient()) {
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create("http://localhost:" + port
                    + "/q/health/ready")).timeout(Duration.ofSeconds(2)).build(), HttpResponse.BodyHandlers.ofString());
            if (r.statusCode() != 200) throw new IllegalStateException("not ready: " + r.body());
        }
    }

    private static void awaitReady(Service s, Duration limit, Probe probe) {
        long deadline = System.nanoTime() + limit.toNanos();
        try {
            while (true) {
                if (!s.process().isAlive()) {
                    throw new IllegalStateException(s.name() + " exited with code " + s.process().exitValue()
                            + " before it was ready: " + new ServiceLog(s.log()).cause() + " (log: " + s.log() + ")");
                }
                try {
                    probe.call();
                    return;
                } catch (InterruptedException e) {
                    throw e;
                } catch (Exception notYet) {
                    if (System.nanoTime() > deadline) {
                        throw new IllegalStateException(s.name() + " was not ready on " + s.address() + " within "
                                + limit.toSeconds() + " s (" + notYet.getMessage() + "):" + new ServiceLog(s.log()).tail());
                    }
                    Thread.sleep(200);
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while starting " + s.name());
        }
    }

    /**
     * Stops every process, the last started first, each before the next (so the orchestrator commits its offsets
     * while the broker is still up); politely, then by force after 10 s.
     */
    @Override
    public void close() {
        closing = true;
        List<Service> reversed = new ArrayList<>(services);
        Collections.reverse(reversed);
        for (Service s : reversed) {
            s.process().destroy();
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
