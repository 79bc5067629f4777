package dev.moemesh.orchestrator;

import io.smallrye.common.annotation.Identifier;
import io.smallrye.reactive.messaging.kafka.KafkaConsumerRebalanceListener;
import jakarta.enterprise.context.ApplicationScoped;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.common.TopicPartition;
import org.jboss.logging.Logger;

import java.util.Collection;

/**
 * Tells the Kafka door which partitions of the requests topic it owns, as the connector's consumer learns it
 * ({@code mp.messaging.incoming.inference-requests.consumer-rebalance-listener.name}): partitions taken away are left
 * to their new owner before it starts their records; partitions given first catch up on the terminal events other
 * orchestrators of the group wrote. Called on the consumer's thread, between polls.
 */
@ApplicationScoped
@Identifier(FrontDoorRebalance.NAME)
public class FrontDoorRebalance implements KafkaConsumerRebalanceListener {
    static final String NAME = "kafka-front-door";
    private static final Logger LOG = Logger.getLogger(FrontDoorRebalance.class);

    private final FrontDoorService service;

    FrontDoorRebalance(FrontDoorService service) {
        this.service = service;
    }

    @Override
    public void onPartitionsAssigned(Consumer<?, ?> consumer, Collection<TopicPartition> partitions) {
        service.door().ifPresentOrElse(d -> d.assigned(partitions),
                () -> LOG.warnf("partitions %s assigned before the door opened; not served", partitions));
    }

    @Override
    public void onPartitionsRevoked(Consumer<?, ?> consumer, Collection<TopicPartition> partitions) {
        service.door().ifPresent(d -> d.revoked(partitions));
    }

    @Override
    public void onPartitionsLost(Consumer<?, ?> consumer, Collection<TopicPartition> partitions) {
        service.door().ifPresent(d -> d.revoked(partitions));
    }
}
