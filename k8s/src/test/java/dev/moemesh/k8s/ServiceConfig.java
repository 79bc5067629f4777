package dev.moemesh.k8s;

import java.io.IOException;
import java.io.StringReader;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The settings one service module reads, taken from its source: the keys of its {@code @ConfigMapping}
 * interface (methods in kebab case, nested interfaces as dotted groups, with their {@code @WithDefault}s) and
 * the keys of its {@code application.properties}. A manifest's environment variable is a setting when it is one
 * of these keys in Quarkus' environment form (upper case, every other character {@code _}).
 */
final class ServiceConfig {
    private static final Pattern MAPPING = Pattern.compile("@ConfigMapping\\(prefix\\s*=\\s*\"([^\"]+)\"\\)");
    private static final Pattern INTERFACE = Pattern.compile("\\binterface\\s+(\\w+)");
    private static final Pattern METHOD = Pattern.compile("^\\s*([\\w.]+(?:<[\\w<>?,\\s.]+>)?)\\s+(\\w+)\\(\\);");
    private static final Pattern DEFAULT = Pattern.compile("@WithDefault\\(\"([^\"]*)\"\\)");

    private final String module;
    /** key → its default, or null where it has none; insertion order is the source's. */
    private final Map<String, String> keys;
    private final Path sources;

    private ServiceConfig(String module, Map<String, String> keys, Path sources) {
        this.module = module;
        this.keys = keys;
        this.sources = sources;
    }

    /** Reads {@code repo/module}: its {@code src/main/java} and {@code src/main/resources/application.properties}. */
    static ServiceConfig of(Path repo, String module) {
        Path dir = repo.resolve(module);
        Path java = dir.resolve("src/main/java");
        Path properties = dir.resolve("src/main/resources/application.properties");
        if (!Files.isDirectory(java) || !Files.isRegularFile(properties)) {
            throw new IllegalArgumentException(module + " is not a service module of " + repo
                    + " (no src/main/java or application.properties)");
        }
        Map<String, String> keys = new LinkedHashMap<>();
        for (Path source : javaFiles(java)) {
            String text = read(source);
            Matcher m = MAPPING.matcher(text);
            if (m.find()) keys.putAll(mappingKeys(m.group(1), text, source));
        }
        Properties p = new Properties();
        try {
            p.load(new StringReader(read(properties)));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        // %test.x and other profiles are not what a deployed service reads
        p.stringPropertyNames().stream().filter(k -> !k.startsWith("%")).sorted()
                .forEach(k -> keys.putIfAbsent(k, p.getProperty(k)));
        return new ServiceConfig(module, keys, java);
    }

    String module() {
        return module;
    }

    /** The setting an environment variable sets, if any. */
    Optional<String> keyOf(String envName) {
        return keys.keySet().stream().filter(k -> envName(k).equals(envName)).findFirst();
    }

    /** True when {@code key} is one of the module's settings. */
    boolean has(String key) {
        return keys.containsKey(key);
    }

    /** The module's settings, in the source's order. */
    Stream<String> keys() {
        return keys.keySet().stream();
    }

    /** The value a setting has when nothing overrides it: application.properties, else its @WithDefault. */
    Optional<String> defaultOf(String key) {
        return Optional.ofNullable(keys.get(key));
    }

    /** True when the module's source contains this string literal (a meter's name, say). */
    boolean sourceHasLiteral(String literal) {
        return javaFiles(sources).stream().anyMatch(f -> read(f).contains("\"" + literal + "\""));
    }

    static String envName(String key) {
        return key.replaceAll("[^A-Za-z0-9]", "_").toUpperCase();
    }

    /**
     * Keys of a mapping interface: each abstract method without arguments, kebab-cased; a method returning a
     * nested interface of the same file is a group whose keys are prefixed by its name.
     */
    private static Map<String, String> mappingKeys(String prefix, String text, Path source) {
        if (text.contains("@WithName") || text.contains("@WithParentName")) {
            throw new IllegalArgumentException(source + ": @WithName is not read by this test: extend ServiceConfig");
        }
        Map<String, Map<String, String[]>> methods = new LinkedHashMap<>(); // interface → method → {type, default}
        Deque<String> open = new ArrayDeque<>();
        Deque<Integer> depthOf = new ArrayDeque<>();
        int depth = 0;
        String pendingDefault = null;
        for (String line : text.lines().toList()) {
            Matcher i = INTERFACE.matcher(line);
            if (i.find() && !line.trim().startsWith("*") && !line.trim().startsWith("/")) {
                open.push(i.group(1));
                depthOf.push(depth + 1);
                methods.put(i.group(1), new LinkedHashMap<>());
            }
            Matcher d = DEFAULT.matcher(line);
            if (d.find()) pendingDefault = d.group(1);
            Matcher m = METHOD.matcher(line);
            if (m.find() && !open.isEmpty() && depth == depthOf.peek()) {
                methods.get(open.peek()).put(m.group(2), new String[] {m.group(1), pendingDefault});
                pendingDefault = null;
            }
            for (char c : line.toCharArray()) {
                if (c == '{') depth++;
                if (c == '}') {
                    depth--;
                    if (!depthOf.isEmpty() && depth < depthOf.peek()) {
                        open.pop();
                        depthOf.pop();
                    }
                }
            }
        }
        Map<String, String> keys = new LinkedHashMap<>();
        String root = methods.keySet().iterator().next();
        addKeys(prefix, root, methods, keys);
        return keys;
    }

    private static void addKeys(String prefix, String iface, Map<String, Map<String, String[]>> methods,
                                Map<String, String> keys) {
        methods.get(iface).forEach((name, typeAndDefault) -> {
            String key = prefix + "." + kebab(name);
            if (methods.containsKey(typeAndDefault[0])) addKeys(key, typeAndDefault[0], methods, keys);
            else keys.put(key, typeAndDefault[1]);
        });
    }

    private static String kebab(String camel) {
        return camel.replaceAll("([a-z0-9])([A-Z])", "$1-$2").toLowerCase();
    }

    private static List<Path> javaFiles(Path dir) {
        try (Stream<Path> files = Files.walk(dir)) {
            return files.filter(f -> f.toString().endsWith(".java")).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String read(Path file) {
        try {
            return Files.readString(file);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
