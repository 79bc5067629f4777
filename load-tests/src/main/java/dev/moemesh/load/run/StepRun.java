package dev.moemesh.load.run;

import dev.moemesh.load.door.RequestTrace;

import java.util.List;

/**
 * What a step did: its setting, the door, the first due time (the step's clock zero, {@code System.nanoTime()}), when
 * sending stopped, and every request's trace.
 */
public record StepRun(Step step, String door, long startNanos, long sendingEndedNanos, long endedNanos,
                      List<RequestTrace> traces) {
}
