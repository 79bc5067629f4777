package dev.moemesh.load.report;

/** The service level a request must meet to count toward goodput: time to first token and time per output token. */
public record Slo(double ttftMs, double tpotMs) {
    public Slo {
        if (!(ttftMs > 0) || !(tpotMs > 0)) throw new IllegalArgumentException("SLO limits must be > 0 ms, got TTFT "
                + ttftMs + ", TPOT " + tpotMs);
    }

    @Override
    public String toString() {
        return "TTFT <= " + ttftMs + " ms and TPOT <= " + tpotMs + " ms";
    }
}
