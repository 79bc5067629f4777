package dev.moemesh.expert.held;

import dev.moemesh.core.config.ModelConfig;
import dev.moemesh.core.moe.ExpertId;

import java.util.ArrayList;
import java.util.List;
import java.util.SortedSet;
import java.util.TreeSet;

/**
 * Which routed experts a service holds, as written in {@code expert.experts}: {@code *} for every routed expert,
 * or comma-separated {@code LAYERS:EXPERTS} items where each side is a number, an inclusive range {@code a-b} or
 * {@code *} (e.g. {@code 3:0-7,4:0-7} or {@code 1-2:*}).
 */
public record ExpertSelection(String spec, List<Item> items) {

    /** One {@code LAYERS:EXPERTS} item; a null range means every one. */
    public record Item(Range layers, Range experts) {}

    /** Inclusive. */
    public record Range(int from, int to) {
        boolean contains(int i) {
            return i >= from && i <= to;
        }
    }

    public ExpertSelection {
        items = List.copyOf(items);
    }

    public static ExpertSelection parse(String spec) {
        String s = spec.strip();
        if (s.equals("*")) return new ExpertSelection(spec, List.of(new Item(null, null)));
        if (s.isEmpty()) throw invalid(spec, "it is empty; write * for every expert or e.g. 3:0-7,4:0-7");
        List<Item> items = new ArrayList<>();
        for (String item : s.split(",", -1)) {
            String[] sides = item.strip().split(":", -1);
            if (sides.length != 2) {
                throw invalid(spec, "item '" + item.strip() + "' is not LAYERS:EXPERTS (e.g. 3:0-7, 3:* or 1-2:5)");
            }
            items.add(new Item(range(spec, item, sides[0]), range(spec, item, sides[1])));
        }
        return new ExpertSelection(spec, items);
    }

    private static Range range(String spec, String item, String side) {
        String t = side.strip();
        if (t.equals("*")) return null;
        try {
            int dash = t.indexOf('-');
            Range r = dash < 0 ? new Range(Integer.parseInt(t), Integer.parseInt(t))
                    : new Range(Integer.parseInt(t.substring(0, dash).strip()), Integer.parseInt(t.substring(dash + 1).strip()));
            if (r.from < 0 || r.to < r.from) {
                throw invalid(spec, "range '" + t + "' in item '" + item.strip() + "' is empty or negative");
            }
            return r;
        } catch (NumberFormatException e) {
            throw invalid(spec, "'" + t + "' in item '" + item.strip() + "' is not a number, a range a-b or *");
        }
    }

    private static IllegalArgumentException invalid(String spec, String why) {
        return new IllegalArgumentException("expert.experts = '" + spec + "': " + why);
    }

    /** The selected experts of {@code model}; a layer or expert the selection names explicitly must exist in it. */
    public SortedSet<ExpertId> resolve(ModelConfig model) {
        SortedSet<ExpertId> out = new TreeSet<>();
        for (Item item : items) {
            if (item.layers != null) {
                for (int layer = item.layers.from; layer <= item.layers.to; layer++) {
                    if (!model.isMoeLayer(layer)) {
                        throw invalid(spec, "layer " + layer + " is not a MoE layer of this model (" + model.numLayers()
                                + " layers, the first " + model.firstKDenseReplace() + " dense"
                                + (model.numNextnPredictLayers() > 0 ? ", then " + model.numNextnPredictLayers()
                                        + " multi-token-prediction layer(s)" : "") + ")");
                    }
                }
            }
            if (item.experts != null && item.experts.to >= model.nRoutedExperts()) {
                throw invalid(spec, "expert " + item.experts.to + " is past the model's " + model.nRoutedExperts()
                        + " routed experts (ids 0-" + (model.nRoutedExperts() - 1) + ")");
            }
            for (int layer : model.moeLayers()) {
                if (item.layers != null && !item.layers.contains(layer)) continue;
                for (int e = 0; e < model.nRoutedExperts(); e++) {
                    if (item.experts == null || item.experts.contains(e)) out.add(new ExpertId(layer, e));
                }
            }
        }
        if (out.isEmpty()) throw invalid(spec, "this model has no routed experts to select");
        return out;
    }
}
