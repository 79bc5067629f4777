package dev.moemesh.orchestrator.ingest;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.errors.TopicExistsException;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.regex.Pattern;

/** The three topics of the contract, by name; {@link #ensure} creates those missing. */
public record Topics(String requests, String responses, String dlq) {
    public static Topics defaults() {
        return new Topics("inference.requests", "inference.responses", "inference.dlq");
    }

    /** The topics on the broker whose whole name matches {@code pattern}. */
    public static List<String> matching(Admin admin, Pattern pattern) {
        try {
            return admin.listTopics().names().get().stream().filter(t -> pattern.matcher(t).matches()).toList();
        } catch (ExecutionException e) {
            throw new IllegalStateException("cannot list the topics: " + e.getCause().getMessage(), e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while listing the topics");
        }
    }

    /** Creates any of the topics that does not exist yet, with {@code partitions} and the broker's replication. */
    public void ensure(Admin admin, int partitions) {
        try {
            Set<String> existing = admin.listTopics().names().get();
            List<NewTopic> missing = new ArrayList<>();
            for (String t : List.of(requests, responses, dlq)) {
                if (!existing.contains(t)) missing.add(new NewTopic(t, Optional.of(partitions), Optional.empty()));
            }
            if (missing.isEmpty()) return;
            try {
                admin.createTopics(missing).all().get();
            } catch (ExecutionException e) {
                if (!(e.getCause() instanceof TopicExistsException)) throw e;
            }
        } catch (ExecutionException e) {
            throw new IllegalStateException("cannot create the topics " + this + ": " + e.getCause().getMessage(),
                    e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while creating the topics " + this);
        }
    }
}
