package dev.moemesh.k8s;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The expert pools' groups ({@code *:a-b} each, what their pods load at start) split the experts 0..n-1 without
 * gaps or overlap; each pod's expert slots hold its group, and with every pool at its fewest replicas the slots
 * hold every expert of a layer, so that the control plane can place them all. The model's expert count is on the
 * volume, not in the manifests, so that the last group ends at the last expert is for the control plane to tell.
 */
final class ExpertGroups {
    private static final Pattern GROUP = Pattern.compile("\\*:(\\d+)-(\\d+)");

    private final BuildIndex build;

    private ExpertGroups(BuildIndex build) {
        this.build = build;
    }

    static void check(BuildIndex build) {
        new ExpertGroups(build).checkExpertGroups();
    }

    private void checkExpertGroups() {
        List<int[]> ranges = new ArrayList<>();
        Map<String, String> fewest = new TreeMap<>(); // pool → its fewest replicas × slots, for the message
        int slotsAtFewest = 0;
        boolean unlimited = false;
        for (JsonNode d : build.all("Deployment")) {
            String component = d.path("metadata").path("labels").path("app.kubernetes.io/component").asText();
            if (!component.equals("expert-pool")) continue;
            Optional<String> experts = build.env(d, "EXPERT_EXPERTS").flatMap(e -> build.envValue(d, e));
            Matcher m = GROUP.matcher(experts.orElse(""));
            if (!m.matches()) {
                build.problem(Yaml.id(d) + ": EXPERT_EXPERTS is '" + experts.orElse("unset")
                        + "'; an expert pool holds one range of every layer, *:a-b");
                continue;
            }
            int[] range = {Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2))};
            ranges.add(range);
            int slots = slots(d);
            if (slots == 0) {
                unlimited = true;
                continue;
            }
            int size = range[1] - range[0] + 1;
            if (size > slots) {
                build.problem(Yaml.id(d) + ": its pods load " + size + " experts of each layer at start (" + m.group()
                        + ") but have " + slots + " expert slots");
            }
            int replicas = build.replicas(d).min();
            slotsAtFewest += replicas * slots;
            fewest.put(d.path("metadata").path("name").asText(), replicas + " × " + slots);
        }
        ranges.sort((a, b) -> Integer.compare(a[0], b[0]));
        int next = 0;
        for (int[] r : ranges) {
            if (r[0] > next) {
                build.problem("expert groups: experts " + next + " to " + (r[0] - 1) + " are held by no pool");
            } else if (r[0] < next) {
                build.problem("expert groups: experts " + r[0] + " to " + (next - 1) + " are in two pools");
            }
            next = Math.max(next, r[1] + 1);
        }
        if (!unlimited && !ranges.isEmpty() && slotsAtFewest < next) {
            build.problem("expert groups: with every pool at its fewest replicas the pods have " + slotsAtFewest
                    + " expert slots per layer " + fewest + ", fewer than the " + next + " experts the groups split;"
                    + " the control plane cannot place them all");
        }
    }

    /** The pool's {@code expert.expert-slots}; 0, no limit, where unset or unreadable. */
    private int slots(JsonNode d) {
        return build.env(d, "EXPERT_EXPERT_SLOTS").flatMap(e -> build.envValue(d, e)).map(v -> {
            try {
                return Integer.parseInt(v.trim());
            } catch (NumberFormatException e) {
                build.problem(Yaml.id(d) + ": EXPERT_EXPERT_SLOTS is '" + v + "', not a whole number");
                return 0;
            }
        }).orElse(0);
    }
}
