package dev.moemesh.k8s;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Autoscalers scale Deployments of the build, one autoscaler each, and those set no replica count; KEDA's
 * prometheus trigger reads a metric that the target's service exports, of the target's pods in its namespace.
 */
final class AutoscalerReferences {
    private static final Pattern METRIC = Pattern.compile("\\b(moemesh_[a-z0-9_]+)\\b");

    private final BuildIndex build;

    private AutoscalerReferences(BuildIndex build) {
        this.build = build;
    }

    static void check(BuildIndex build) {
        new AutoscalerReferences(build).checkAutoscalers();
    }

    private void checkAutoscalers() {
        Map<String, String> scaledBy = new TreeMap<>();
        for (JsonNode hpa : build.all("HorizontalPodAutoscaler")) {
            JsonNode ref = hpa.path("spec").path("scaleTargetRef");
            if (!ref.path("kind").asText().equals("Deployment") || !ref.path("apiVersion").asText().equals("apps/v1")) {
                build.problem(Yaml.id(hpa) + ": scales " + ref + "; the mesh's roles are apps/v1 Deployments");
            }
            target(hpa, ref.path("name").asText(), scaledBy);
        }
        for (JsonNode so : build.objects()) {
            if (!KedaScaledObjects.isScaledObject(so)) continue;
            JsonNode ref = so.path("spec").path("scaleTargetRef");
            if (!ref.path("kind").asText("Deployment").equals("Deployment")) {
                build.problem(Yaml.id(so) + ": scales a " + ref.path("kind").asText()
                        + "; the mesh's roles are Deployments");
            }
            Optional<JsonNode> d = target(so, ref.path("name").asText(), scaledBy);
            if (d.isEmpty()) continue;
            for (JsonNode trigger : so.path("spec").path("triggers")) {
                if (trigger.path("type").asText().equals("prometheus")) {
                    checkPrometheusTrigger(so, d.get(), trigger.path("metadata"));
                }
            }
        }
    }

    private Optional<JsonNode> target(JsonNode scaler, String name, Map<String, String> scaledBy) {
        Optional<JsonNode> d = build.find(scaler, "Deployment", name);
        if (d.isEmpty()) {
            build.problem(Yaml.id(scaler) + ": scales Deployment " + name + ", which is not in the build");
            return d;
        }
        String before = scaledBy.put(Yaml.id(d.get()), Yaml.id(scaler));
        if (before != null) build.problem(Yaml.id(d.get()) + ": scaled by both " + before + " and " + Yaml.id(scaler));
        // a count in the manifest would reset the autoscaler's on every apply
        if (d.get().path("spec").has("replicas")) {
            build.problem(Yaml.id(d.get()) + ": sets spec.replicas although " + Yaml.id(scaler) + " owns the count");
        }
        return d;
    }

    /** The query reads metrics the target's service exports, of the target's pods in its namespace. */
    private void checkPrometheusTrigger(JsonNode so, JsonNode d, JsonNode metadata) {
        String query = metadata.path("query").asText();
        JsonNode c = d.path("spec").path("template").path("spec").path("containers").path(0);
        Optional<ServiceConfig> config = build.service(c);
        Matcher m = METRIC.matcher(query);
        boolean any = false;
        while (m.find()) {
            any = true;
            // Micrometer's "a.b.c" counter is Prometheus' a_b_c_total
            String meter = m.group(1).replaceFirst("_total$", "").replace('_', '.');
            if (config.isEmpty() || !config.get().sourceHasLiteral(meter)) {
                build.problem(Yaml.id(so) + ": the query reads " + m.group(1) + ", which " + Yaml.id(d)
                        + " does not export (no meter \"" + meter + "\" in its source)");
            }
        }
        if (!any) build.problem(Yaml.id(so) + ": the query reads no moemesh_ metric: " + query);
        String name = d.path("metadata").path("name").asText();
        if (!query.contains("pod=~\"" + name + "-.*\"")) {
            build.problem(Yaml.id(so) + ": the query does not select the pods of " + name
                    + " (pod=~\"" + name + "-.*\")");
        }
        String namespace = d.path("metadata").path("namespace").asText("");
        if (!query.contains("namespace=\"" + namespace + "\"")) {
            build.problem(Yaml.id(so) + ": the query does not select namespace \"" + namespace + "\"");
        }
    }
}
