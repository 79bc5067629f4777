package dev.moemesh.load.scenario;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * How routed rows spread over the experts during a step, from the expert services' {@code moemesh_expert_tokens_total}:
 * per MoE layer, the share of its rows that its busiest quarter of experts took (0.25 when even, 1 when they took all),
 * averaged over the layers, and the busiest expert's share.
 */
record ExpertLoad(long rows, double busiestQuarterShare, double busiestExpertShare, int layers) {

    /** @param rows {@code {layer="L",expert="E"}} (labels in any order) → rows in the step */
    static ExpertLoad of(Map<String, Double> rows) {
        Map<String, List<Double>> byLayer = new HashMap<>();
        long total = 0;
        for (var e : rows.entrySet()) {
            byLayer.computeIfAbsent(label(e.getKey(), "layer"), k -> new ArrayList<>()).add(e.getValue());
            total += e.getValue().longValue();
        }
        double quarter = 0;
        double top = 0;
        int layers = 0;
        for (List<Double> experts : byLayer.values()) {
            double sum = experts.stream().mapToDouble(Double::doubleValue).sum();
            if (sum <= 0) continue;
            List<Double> sorted = experts.stream().sorted((a, b) -> Double.compare(b, a)).toList();
            int q = Math.max(1, sorted.size() / 4);
            quarter += sorted.subList(0, q).stream().mapToDouble(Double::doubleValue).sum() / sum;
            top += sorted.get(0) / sum;
            layers++;
        }
        return new ExpertLoad(total, layers == 0 ? 0 : round(quarter / layers), layers == 0 ? 0 : round(top / layers), layers);
    }

    Map<String, Object> asMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("routed_rows", rows);
        m.put("busiest_quarter_share", busiestQuarterShare);
        m.put("busiest_expert_share", busiestExpertShare);
        m.put("moe_layers", layers);
        return m;
    }

    private static String label(String labels, String name) {
        int at = labels.indexOf(name + "=\"");
        if (at < 0) return "";
        int from = at + name.length() + 2;
        return labels.substring(from, labels.indexOf('"', from));
    }

    private static double round(double v) {
        return Math.round(v * 1000) / 1000.0;
    }
}
