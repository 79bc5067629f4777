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
 * hold every expert of a layer, so that the control plane can place them all, and {@code min-replicas} replicas of
 * each: at least two wherever two pods have room for them, so one pod that dies leaves every expert served. The
 * model's expert count is on the
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
        int podsAtFewest = 0;
        boolean unlimited = false;
        boolean unreadable = false;
        for (JsonNode d : build.all("Deployment")) {
            String component = d.path("metadata").path("labels").path("app.kubernetes.io/component").asText();
            if (!component.equals("expert-pool")) continue;
            Optional<String> experts = build.env(d, "EXPERT_EXPERTS").flatMap(e -> build.envValue(d, e));
            Matcher m = GROUP.matcher(experts.orElse(""));
            if (!m.matches()) {
                build.problem(Yaml.id(d) + ": EXPERT_EXPERTS is '" + experts.orElse("unset")
                        + "'; an expert pool holds one range of every layer, *:a-b");
                unreadable = true;
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
            podsAtFewest += replicas;
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
        } else if (!unlimited && !unreadable && !ranges.isEmpty()) {
            checkRedundancy(next, slotsAtFewest, podsAtFewest, fewest);
        }
    }

    /** Every expert on {@code min-replicas} pods, and that at least two wherever there is room for two. */
    private void checkRedundancy(int experts, int slotsAtFewest, int podsAtFewest, Map<String, String> fewest) {
        for (JsonNode d : build.all("Deployment")) {
            Optional<String> value = build.env(d, "ORCHESTRATOR_CONTROL_PLANE_MIN_REPLICAS")
                    .flatMap(e -> build.envValue(d, e));
            if (value.isEmpty()) continue;
            int min;
            try {
                min = Integer.parseInt(value.get().trim());
            } catch (NumberFormatException e) {
                build.problem(Yaml.id(d) + ": ORCHESTRATOR_CONTROL_PLANE_MIN_REPLICAS is '" + value.get()
                        + "', not a whole number");
                continue;
            }
            boolean roomForTwo = podsAtFewest >= 2 && slotsAtFewest >= 2 * experts;
            if (min < 2 && roomForTwo) {
                build.problem(Yaml.id(d) + ": min-replicas is " + min + " though the pods' " + slotsAtFewest
                        + " expert slots per layer " + fewest + " hold two replicas of the " + experts + " experts;"
                        + " one pod that dies would leave experts unserved");
            } else if (min * experts > slotsAtFewest || min > podsAtFewest) {
                build.problem(Yaml.id(d) + ": min-replicas is " + min + " but with every pool at its fewest replicas"
                        + " the pods have " + slotsAtFewest + " expert slots per layer " + fewest + " for "
                        + experts + " experts; the control plane gives fewer replicas and warns");
            }
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
