/**
 * The Kafka front door of the mesh: {@code ingest} reads and validates {@code inference.requests}, runs each request
 * on the least loaded attention service (attention-client's {@code AttentionPool} and {@code AttentionCall}) and
 * commits its offsets, and {@code api} writes the events of {@code inference.responses}. {@code docs/kafka.md} is
 * the contract.
 */
package dev.moemesh.orchestrator;
