package dev.moemesh.testing;

import java.net.URI;
import java.net.http.HttpResponse;
import java.util.OptionalDouble;

/** A service's Prometheus text at /q/metrics, as tests read it. */
public final class Prometheus {
    private Prometheus() {}

    /** The whole text the service on {@code httpPort} of this machine serves at /q/metrics. */
    public static String text(int httpPort) {
        HttpResponse<String> r = Http.get(URI.create("http://localhost:" + httpPort + "/q/metrics"));
        if (r.statusCode() != 200) throw new AssertionError("/q/metrics answered " + r.statusCode() + ": " + r.body());
        return r.body();
    }

    /** The value of one sample (its name with its labels, as printed). */
    public static double sample(int httpPort, String sample) {
        String text = text(httpPort);
        return find(text, sample).orElseThrow(() -> new AssertionError("no sample " + sample + " in /q/metrics:\n"
                + text));
    }

    /**
     * The value of one sample in a page of Prometheus text: the first field after its name and labels, ahead of a
     * timestamp or an exemplar ({@code 54.0 # {span_id="…",trace_id="…"} 1.0 1796383263.157}, written when the
     * count was taken inside a traced span); empty while the sample is not there.
     */
    public static OptionalDouble find(String text, String sample) {
        for (String line : text.split("\n")) {
            if (line.startsWith(sample + " ")) {
                String rest = line.substring(sample.length() + 1).strip();
                int end = rest.indexOf(' ');
                return OptionalDouble.of(Double.parseDouble(end < 0 ? rest : rest.substring(0, end)));
            }
        }
        return OptionalDouble.empty();
    }
}
