/**
 * The router service: the OpenAI-compatible REST front door of the mesh ({@code api}), each generation run on the
 * least loaded attention service ({@code schedule}) over gRPC ({@code dispatch}).
 */
package dev.moemesh.router;
