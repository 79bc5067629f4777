package dev.moemesh.load.report;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.SerializationFeature;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** Writes a {@link Report} into a directory: {@code report.json}, {@code report.html} (plots inlined) and each plot as a PNG. */
public final class ReportWriter {
    public static final ObjectMapper JSON = new ObjectMapper()
            .setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE).enable(SerializationFeature.INDENT_OUTPUT);

    private ReportWriter() {}

    public static Path write(Report report, Path dir) {
        try {
            Files.createDirectories(dir);
            JSON.writeValue(dir.resolve("report.json").toFile(), report);
            List<Plots.Png> plots = Plots.of(report.steps());
            for (Plots.Png p : plots) Files.write(dir.resolve(p.name() + ".png"), p.bytes());
            Files.writeString(dir.resolve("report.html"), html(report, plots));
            return dir.resolve("report.html");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the report to " + dir + ": " + e.getMessage(), e);
        }
    }

    static String html(Report r, List<Plots.Png> plots) throws IOException {
        StringBuilder h = new StringBuilder("<!doctype html><html><head><meta charset=\"utf-8\"><title>moe-mesh load: ")
                .append(esc(r.scenario())).append("</title><style>body{font-family:sans-serif;margin:2em;max-width:1200px}"
                        + "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px;"
                        + "text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}"
                        + "pre{background:#f7f7f7;padding:1em;overflow:auto}</style></head><body>");
        h.append("<h1>moe-mesh load: ").append(esc(r.scenario())).append("</h1><p>").append(esc(r.startedAt()))
                .append(" &middot; <code>").append(esc(r.command())).append("</code></p>");
        h.append("<p>Machine: ").append(r.machine().cores()).append(" cores, ").append(esc(r.machine().cpu())).append(", ")
                .append(esc(r.machine().os())).append(", ").append(esc(r.machine().jvm())).append("</p>");
        h.append("<p>Target: ").append(esc(r.target().toString())).append("</p>");
        h.append("<h2>Steps</h2><p>Latencies in ms, counted from each request's scheduled send time (no coordinated"
                + " omission). TPOT: (E2E &minus; TTFT) / (output tokens &minus; 1); ITL: gaps between tokens; goodput:"
                + " answered requests/s within the SLO; sent late: how far behind its schedule the generator"
                + " sent (when it is large, the generator, not only the mesh, was short of CPU).</p><table><tr><th>step</th><th>door</th><th>arrivals</th>"
                + "<th>sent</th><th>answered</th><th>failed</th><th>req/s</th><th>out tok/s</th><th>goodput</th>"
                + "<th>TTFT p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>TPOT p50</th><th>p99</th><th>ITL p50</th>"
                + "<th>p99</th><th>E2E p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>sent late p99</th><th>errors</th></tr>");
        for (StepFigures f : r.steps()) {
            h.append("<tr><td>").append(esc(f.label())).append("</td><td>").append(f.door()).append("</td><td>")
                    .append(esc(f.arrivals())).append("</td>");
            cells(h, f.sent(), f.answered(), f.failed(), f.requestThroughput(), f.outputTokensPerS(), f.goodput(),
                    f.ttft().p50(), f.ttft().p90(), f.ttft().p99(), f.ttft().p999(), f.tpot().p50(), f.tpot().p99(),
                    f.itl().p50(), f.itl().p99(), f.e2e().p50(), f.e2e().p90(), f.e2e().p99(), f.e2e().p999(),
                    f.sendLag().p99());
            h.append("<td>").append(esc(f.errors().toString())).append(f.repeatedTerminalEvents() == 0 ? ""
                    : "; repeated terminal events: " + f.repeatedTerminalEvents()).append("</td></tr>");
        }
        h.append("</table>");
        if (!r.steps().isEmpty()) {
            h.append("<p>Workload: ").append(esc(r.steps().get(0).workload())).append("; SLO: ")
                    .append(esc(r.steps().get(0).slo().toString())).append("</p>");
        }
        h.append("<h2>Summary</h2><pre>").append(esc(JSON.writeValueAsString(r.summary()))).append("</pre>");
        for (Plots.Png p : plots) {
            h.append("<h2>").append(esc(p.title())).append("</h2><img alt=\"").append(esc(p.title()))
                    .append("\" src=\"data:image/png;base64,").append(Base64.getEncoder().encodeToString(p.bytes()))
                    .append("\">");
        }
        return h.append("</body></html>\n").toString();
    }

    private static void cells(StringBuilder h, Object... values) {
        for (Object v : values) {
            h.append("<td>").append(v instanceof Double d ? String.format(Locale.ROOT, "%.2f", d) : v).append("</td>");
        }
    }

    private static String esc(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }

    /** Reads a report written by {@link #write}. */
    public static Map<?, ?> read(Path json) throws IOException {
        return JSON.readValue(json.toFile(), Map.class);
    }
}
