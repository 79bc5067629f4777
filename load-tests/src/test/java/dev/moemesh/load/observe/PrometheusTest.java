package dev.moemesh.load.observe;

import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** What a load report reads out of a Prometheus page, exemplars included. */
class PrometheusTest {
    /** As Quarkus writes it: a counter taken inside a traced span carries an exemplar after its value. */
    private static final String PAGE = """
            # TYPE moemesh_door_generations_total counter
            moemesh_door_generations_total{door="kafka",outcome="completed"} 54.0 # {span_id="a2ac78d4925c4e37",\
            trace_id="045f040687b1eb5b1c8703b112824be2"} 1.0 1796383263.157
            moemesh_door_generations_total{door="grpc",outcome="completed"} 6.0
            jvm_memory_used_bytes{area="heap",id="G1 Eden Space"} 100.0
            jvm_memory_used_bytes{area="heap",id="G1 Old Gen"} 23.0
            """;

    @Test
    void aSumTakesEachSamplesValueNotItsExemplars() {
        Map<String, Double> sums = Prometheus.sums(PAGE, Map.of("completed", "moemesh_door_generations_total",
                "heap", "jvm_memory_used_bytes{area=\"heap\""));
        assertEquals(Map.of("completed", 60.0, "heap", 123.0), sums);
    }

    @Test
    void aSeriesTakesEachSamplesValueNotItsExemplars() {
        assertEquals(Map.of("{door=\"kafka\",outcome=\"completed\"}", 54.0,
                "{door=\"grpc\",outcome=\"completed\"}", 6.0), Prometheus.series(PAGE, "moemesh_door_generations_total"));
    }
}
