/**
 * The orchestrator: the Kafka front door of the mesh and its control plane. Front door: {@code ingest} reads and
 * validates {@code inference.requests}, runs each request on an attention service (attention-client's
 * {@code AttentionPool} and {@code AttentionCall}) and commits its offsets, and {@code api} writes the events of
 * {@code inference.responses} ({@code docs/kafka.md} is the contract). Control plane: {@code membership} knows the
 * instances and their load, {@code placement} plans where the routed experts go, and {@code control} serves the
 * gRPC ControlPlane service and publishes placements ({@code docs/control-plane.md}).
 */
package dev.moemesh.orchestrator;
