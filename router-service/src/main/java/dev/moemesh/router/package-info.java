/**
 * The router service: the OpenAI-compatible REST and the gRPC {@code InferenceService} front doors of the mesh
 * ({@code api}), each generation run on the least loaded attention service through attention-client's
 * {@code AttentionCall}; {@code prompt} turns text, token ids and chat messages into prompt token ids.
 */
package dev.moemesh.router;
