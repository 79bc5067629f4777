package dev.moemesh.testing;

import java.net.URI;
import java.net.http.HttpResponse;

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
        for (String line : text.split("\n")) {
            if (line.startsWith(sample + " ")) return Double.parseDouble(line.substring(sample.length() + 1).strip());
        }
        throw new AssertionError("no sample " + sample + " in /q/metrics:\n" + text);
    }
}
