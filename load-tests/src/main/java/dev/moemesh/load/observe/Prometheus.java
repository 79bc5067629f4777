package dev.moemesh.load.observe;

import java.util.HashMap;
import java.util.Map;

/** Reads the samples a load report needs out of a Prometheus text page (a service's {@code /q/metrics}). */
final class Prometheus {
    private Prometheus() {}

    /**
     * Sums of the samples whose name (with labels, as written) starts with each prefix, e.g.
     * {@code jvm_memory_used_bytes{area="heap"} } sums every heap pool; absent prefixes are left out.
     */
    static Map<String, Double> sums(String page, Map<String, String> prefixes) {
        Map<String, Double> out = new HashMap<>();
        for (String written : page.split("\n")) {
            if (written.isEmpty() || written.charAt(0) == '#') continue;
            String line = withoutExemplar(written);
            int space = line.lastIndexOf(' ');
            if (space < 0) continue;
            for (Map.Entry<String, String> p : prefixes.entrySet()) {
                if (line.startsWith(p.getValue())) {
                    try {
                        out.merge(p.getKey(), Double.parseDouble(line.substring(space + 1)), Double::sum);
                    } catch (NumberFormatException ignored) {
                        // a sample that is not a number (NaN is parsed) belongs to no figure here
                    }
                }
            }
        }
        return out;
    }

    /** Each sample of {@code metric}, keyed by its label set as written, e.g. {@code {layer="1",expert="7"}}. */
    static Map<String, Double> series(String page, String metric) {
        Map<String, Double> out = new HashMap<>();
        for (String written : page.split("\n")) {
            if (!written.startsWith(metric + "{")) continue;
            String line = withoutExemplar(written);
            int close = line.lastIndexOf('}');
            int space = line.lastIndexOf(' ');
            if (close < 0 || space < close) continue;
            out.put(line.substring(metric.length(), close + 1), Double.parseDouble(line.substring(space + 1)));
        }
        return out;
    }

    /**
     * A sample line without its exemplar: a count taken inside a traced span is written
     * {@code name{labels} 54.0 # {span_id="…",trace_id="…"} 1.0 1796383263.157}, and the value is the 54.0.
     */
    private static String withoutExemplar(String line) {
        int exemplar = line.indexOf(" # ");
        return exemplar < 0 ? line : line.substring(0, exemplar);
    }
}
