package dev.moemesh.attention;

import static io.restassured.RestAssured.given;

/** The service's Prometheus text at /q/metrics, as tests read it. */
public final class Prometheus {
    private Prometheus() {}

    /** The value of one sample (its name with its labels, as printed). */
    public static double sample(String sample) {
        String text = given().when().get("/q/metrics").then().statusCode(200).extract().asString();
        for (String line : text.split("\n")) {
            if (line.startsWith(sample + " ")) return Double.parseDouble(line.substring(sample.length() + 1).strip());
        }
        throw new AssertionError("no sample " + sample + " in /q/metrics:\n" + text);
    }
}
