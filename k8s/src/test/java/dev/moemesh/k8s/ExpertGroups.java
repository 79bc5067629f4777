package dev.moemesh.k8s;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The expert pools' groups ({@code *:a-b} each) split the experts 0..n-1 without gaps or overlap, and the
 * attention service lists every pool. The model's expert count is on the volume, not in the manifests, so that
 * the last group ends at the last expert is for the attention service's readiness to tell.
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
        Set<String> pools = new TreeSet<>();
        for (JsonNode d : build.all("Deployment")) {
            String component = d.path("metadata").path("labels").path("app.kubernetes.io/component").asText();
            if (!component.equals("expert-pool")) continue;
            pools.add(d.path("metadata").path("name").asText());
            Optional<String> experts = build.env(d, "EXPERT_EXPERTS").flatMap(e -> build.envValue(d, e));
            Matcher m = GROUP.matcher(experts.orElse(""));
            if (!m.matches()) {
                build.problem(Yaml.id(d) + ": EXPERT_EXPERTS is '" + experts.orElse("unset")
                        + "'; an expert pool holds one range of every layer, *:a-b");
                continue;
            }
            ranges.add(new int[] {Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2))});
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
        for (JsonNode d : build.all("Deployment")) {
            build.env(d, "ATTENTION_EXPERT_SERVICES").flatMap(e -> build.envValue(d, e)).ifPresent(list -> {
                Set<String> listed = new TreeSet<>();
                for (String a : list.split(",")) listed.add(a.trim().split("[.:]")[0]);
                if (!listed.equals(pools)) build.problem(Yaml.id(d) + ": ATTENTION_EXPERT_SERVICES lists " + listed
                        + " but the expert pools are " + pools);
            });
        }
    }
}
