package dev.moemesh.load.report;

import org.jfree.chart.ChartFactory;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.LogAxis;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

import java.awt.Color;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The report's charts, drawn with JFreeChart to PNG: against offered load, and over time. */
public final class Plots {
    private static final int WIDTH = 760;
    private static final int HEIGHT = 380;

    private Plots() {}

    /** A named PNG. */
    public record Png(String name, String title, byte[] bytes) {}

    /** Every chart the steps give: the load curves where the offered rate varies, the timelines always. */
    public static List<Png> of(List<StepFigures> steps) {
        List<Png> out = new ArrayList<>();
        Map<String, List<StepFigures>> byDoor = new LinkedHashMap<>();
        for (StepFigures f : steps) if (!Double.isNaN(f.offeredRate())) byDoor.computeIfAbsent(f.door(), k -> new ArrayList<>()).add(f);
        boolean curves = byDoor.values().stream().anyMatch(l -> l.stream().map(StepFigures::offeredRate).distinct().count() > 1);
        if (curves) {
            XYSeriesCollection latency = new XYSeriesCollection();
            XYSeriesCollection throughput = new XYSeriesCollection();
            byDoor.forEach((door, list) -> {
                XYSeries p50 = new XYSeries(door + " E2E p50", true, true);
                XYSeries p99 = new XYSeries(door + " E2E p99", true, true);
                XYSeries ttft = new XYSeries(door + " TTFT p99", true, true);
                XYSeries done = new XYSeries(door + " answered req/s", true, true);
                XYSeries good = new XYSeries(door + " goodput req/s", true, true);
                for (StepFigures f : list) {
                    p50.addOrUpdate(f.offeredRate(), f.e2e().p50());
                    p99.addOrUpdate(f.offeredRate(), f.e2e().p99());
                    ttft.addOrUpdate(f.offeredRate(), f.ttft().p99());
                    done.addOrUpdate(f.offeredRate(), f.requestThroughput());
                    good.addOrUpdate(f.offeredRate(), f.goodput());
                }
                latency.addSeries(p50);
                latency.addSeries(p99);
                latency.addSeries(ttft);
                throughput.addSeries(done);
                throughput.addSeries(good);
            });
            XYSeries ideal = new XYSeries("offered", true, true);
            steps.stream().filter(f -> !Double.isNaN(f.offeredRate())).forEach(f -> ideal.addOrUpdate(f.offeredRate(), f.offeredRate()));
            throughput.addSeries(ideal);
            double[] rates = steps.stream().mapToDouble(StepFigures::offeredRate).filter(r -> !Double.isNaN(r)).toArray();
            // a sweep that doubles its rate reads best on a log scale
            boolean log = java.util.Arrays.stream(rates).max().orElse(1) > 8 * java.util.Arrays.stream(rates).min().orElse(1);
            out.add(logScale(png("latency-vs-load", "Latency vs offered load", "offered load (requests/s)", "latency (ms)",
                    latency, true), log));
            out.add(logScale(png("throughput-vs-load", "Throughput vs offered load", "offered load (requests/s)",
                    "requests/s", throughput, true), log));
        }
        XYSeriesCollection time = new XYSeriesCollection();
        XYSeries p50 = new XYSeries("E2E p50 (answers in that second)", true, true);
        XYSeries p99 = new XYSeries("E2E p99", true, true);
        double offset = 0;
        for (StepFigures f : steps) {
            for (StepFigures.Second s : f.timeline()) {
                if (s.answered() == 0) continue;
                p50.addOrUpdate(offset + s.second(), s.e2eP50());
                p99.addOrUpdate(offset + s.second(), s.e2eP99());
            }
            offset += f.timeline().size();
        }
        time.addSeries(p50);
        time.addSeries(p99);
        out.add(draw(png("latency-over-time", "Latency over time (steps one after another)", "seconds into the run",
                "latency (ms)", time, false)));
        XYSeriesCollection heap = new XYSeriesCollection();
        Map<String, XYSeries> perService = new LinkedHashMap<>();
        offset = 0;
        for (StepFigures f : steps) {
            for (ServiceSample s : f.services()) {
                Double v = s.values().get("heap_used_mb");
                if (v != null) perService.computeIfAbsent(s.service(), k -> new XYSeries(k + " heap used (MB)", true, true))
                        .addOrUpdate(offset + s.atS(), v.doubleValue());
            }
            offset += f.timeline().size();
        }
        perService.values().forEach(heap::addSeries);
        if (heap.getSeriesCount() > 0) {
            out.add(draw(png("heap-over-time", "Heap used over time, per service", "seconds into the run", "MB", heap, false)));
        }
        return out;
    }

    /** A chart not yet drawn. */
    private record Chart(String name, String title, JFreeChart chart) {}

    private static Png logScale(Chart c, boolean log) {
        if (log) {
            LogAxis axis = new LogAxis(c.chart().getXYPlot().getDomainAxis().getLabel());
            axis.setBase(2);
            axis.setStandardTickUnits(NumberAxis.createStandardTickUnits());
            c.chart().getXYPlot().setDomainAxis(axis);
        }
        return draw(c);
    }

    private static Png draw(Chart c) {
        try (ByteArrayOutputStream bytes = new ByteArrayOutputStream()) {
            ChartUtils.writeChartAsPNG(bytes, c.chart(), WIDTH, HEIGHT);
            return new Png(c.name(), c.title(), bytes.toByteArray());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static Chart png(String name, String title, String x, String y, XYSeriesCollection data, boolean shapes) {
        JFreeChart chart = ChartFactory.createXYLineChart(title, x, y, data, PlotOrientation.VERTICAL, true, false, false);
        chart.setBackgroundPaint(Color.WHITE);
        XYPlot plot = chart.getXYPlot();
        plot.setBackgroundPaint(Color.WHITE);
        plot.setDomainGridlinePaint(Color.LIGHT_GRAY);
        plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
        XYLineAndShapeRenderer renderer = new XYLineAndShapeRenderer(true, shapes);
        plot.setRenderer(renderer);
        return new Chart(name, title, chart);
    }
}
