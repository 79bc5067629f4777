package dev.moemesh.load.report;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * One run of a scenario: what ran, where, on which machine, each step's figures and the scenario's conclusions;
 * written as one JSON document ({@code report.json}) and one self-contained HTML page ({@code report.html}).
 */
public record Report(String scenario, String command, String startedAt, Machine machine, Map<String, String> target,
                     List<StepFigures> steps, Map<String, Object> summary) {

    /** The machine the generator ran on (with {@code mesh up}, the mesh's too). */
    public record Machine(int cores, String os, String jvm, long maxHeapMb, String cpu) {
        public static Machine here() {
            Runtime r = Runtime.getRuntime();
            return new Machine(r.availableProcessors(), System.getProperty("os.name") + " " + System.getProperty("os.version"),
                    System.getProperty("java.vm.name") + " " + Runtime.version(), r.maxMemory() / (1024 * 1024), cpuModel());
        }

        private static String cpuModel() {
            try {
                return Files.readAllLines(Path.of("/proc/cpuinfo")).stream()
                        .filter(l -> l.startsWith("model name")).findFirst().map(l -> l.substring(l.indexOf(':') + 1).strip())
                        .orElse("unknown");
            } catch (IOException e) {
                return "unknown";
            }
        }
    }
}
