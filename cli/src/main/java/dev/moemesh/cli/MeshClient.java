package dev.moemesh.cli;

import dev.moemesh.core.engine.Generation;
import dev.moemesh.core.engine.GenerationRequest;
import dev.moemesh.proto.AttentionServiceGrpc;
import dev.moemesh.proto.Completion;
import dev.moemesh.proto.GenerateEvent;
import dev.moemesh.proto.GenerateRequest;
import dev.moemesh.tls.MeshChannels;
import dev.moemesh.tls.MeshRole;
import dev.moemesh.wire.GenerationWire;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;

import java.util.Iterator;

/** A client of one attention service: sends a generation and collects its streamed events into a {@link Generation}. */
public final class MeshClient implements AutoCloseable {
    private final String target;
    private final ManagedChannel channel;

    public MeshClient(String target) {
        this(target, MeshChannels.PLAINTEXT);
    }

    /** @param channels plaintext, or mutual TLS on a certificate the attention service admits (a door's) */
    public MeshClient(String target, MeshChannels channels) {
        this.target = target;
        this.channel = channels.forTarget(target, MeshRole.ATTENTION).build();
    }

    /**
     * Runs {@code request} on the mesh and returns what the local engine would: the generated ids, finish reason and
     * timings. {@code fingerprint} (may be empty) makes the service refuse if it serves another model.
     */
    public Generation generate(GenerationRequest request, String fingerprint) {
        GenerateRequest wire = GenerationWire.request(request.id(), request.promptIds(), request.sampling()).toBuilder()
                .setModelFingerprint(fingerprint).build();
        try {
            Iterator<GenerateEvent> events = AttentionServiceGrpc.newBlockingStub(channel).generate(wire);
            while (events.hasNext()) {
                GenerateEvent e = events.next();
                if (e.hasCompleted()) return toGeneration(request.id(), e.getCompleted());
            }
            throw new IllegalStateException("attention service " + target + " ended the stream of " + request.id()
                    + " without a completion");
        } catch (StatusRuntimeException e) {
            throw new IllegalStateException("attention service " + target + ": " + e.getStatus().getCode()
                    + (e.getStatus().getDescription() == null ? "" : ": " + e.getStatus().getDescription()), e);
        }
    }

    private static Generation toGeneration(String id, Completion c) {
        int[] ids = c.getTokenIdsList().stream().mapToInt(Integer::intValue).toArray();
        return new Generation(id, ids, GenerationWire.finishReason(c), c.getPromptTokens(), c.getPrefillNanos(), c.getDecodeNanos(),
                c.getErrorMessage().isEmpty() ? null : c.getErrorMessage());
    }

    @Override
    public void close() {
        channel.shutdownNow();
    }
}
