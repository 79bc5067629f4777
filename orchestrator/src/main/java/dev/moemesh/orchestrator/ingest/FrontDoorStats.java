package dev.moemesh.orchestrator.ingest;

/**
 * What the front door has done since it started, for metrics and tests.
 *
 * @param running         requests on attention services now
 * @param peakRunning     the most that ever ran at once (never above {@code orchestrator.max-in-flight})
 * @param full            whether {@code max-in-flight} requests run now, so that the next wait in Kafka
 * @param fullTimes       how many times the door filled up
 * @param terminalEvents  terminal events acknowledged by the broker
 * @param deadLetters     dead letters acknowledged by the broker
 * @param duplicates      requests skipped because their id already had (or was about to get) a terminal event
 * @param left            running requests abandoned to another orchestrator of the group when their partition moved
 */
public record FrontDoorStats(int running, int peakRunning, boolean full, long fullTimes, long terminalEvents,
                             long deadLetters, long duplicates, long left) {
}
