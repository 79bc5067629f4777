/**
 * The Kafka front door of the mesh: {@code ingest} reads and validates {@code inference.requests} and commits its
 * offsets, {@code schedule} picks an attention service, {@code dispatch} runs a generation on it over gRPC, and
 * {@code api} writes the events of {@code inference.responses}. {@code docs/kafka.md} is the contract.
 */
package dev.moemesh.orchestrator;
