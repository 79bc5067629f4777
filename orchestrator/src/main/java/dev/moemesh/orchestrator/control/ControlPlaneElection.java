package dev.moemesh.orchestrator.control;

import dev.moemesh.orchestrator.ingest.KafkaClients;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.CooperativeStickyAssignor;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.WakeupException;
import org.jboss.logging.Logger;

import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.Optional;
import java.util.Properties;
import java.util.concurrent.ExecutionException;

/**
 * Which of several orchestrators leads the control plane ({@code orchestrator.control-plane.election=kafka}): the one
 * that holds the one partition of the election topic in their own consumer group. Kafka's group coordinator gives the
 * partition to one member at a time, and to another when that member leaves (at once, on a clean stop) or misses its
 * session ({@value #SESSION_MS} ms: a killed or cut-off leader); the topic carries no records. The leader's
 * {@link ControlPlane} takes calls; the others {@link ControlPlane#standBy stand by}.
 *
 * <p>Why a consumer group: the orchestrators already share the broker, and a group's assignment is a lease with a
 * timeout that this stack has without another store (a Kubernetes Lease needs the API server's client and its RBAC,
 * ZooKeeper or etcd another system to run). Like any lease, a leader cut off from the broker learns of its loss only
 * when its session has ended for the coordinator too; until then two may lead for a few seconds, and a member keeps
 * to whichever answers it: the placements of both are of the same services, and the newer version wins at the
 * attention services.
 */
public final class ControlPlaneElection implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(ControlPlaneElection.class);
    static final int SESSION_MS = 6_000;
    private static final long LONGEST_BACKOFF_MS = 10_000;

    private final Properties consumer;
    private final Properties admin;
    private final String topic;
    private final ControlPlane controlPlane;
    private final Thread thread;
    private volatile boolean closing;
    private volatile KafkaConsumer<byte[], byte[]> current;

    private ControlPlaneElection(KafkaClients clients, String group, String topic, ControlPlane controlPlane) {
        this.consumer = clients.reader();
        consumer.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        consumer.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, Integer.toString(SESSION_MS));
        consumer.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, Integer.toString(SESSION_MS / 3));
        // sticky: an orchestrator joining (or rejoining) does not take the lead from the one that has it
        consumer.put(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, CooperativeStickyAssignor.class.getName());
        this.admin = clients.admin();
        this.topic = topic;
        this.controlPlane = controlPlane;
        this.thread = Thread.ofPlatform().daemon().name("control-plane-election").unstarted(this::run);
    }

    /**
     * Stands the control plane by and starts taking part in the election in the background: it leads once this
     * orchestrator holds the topic's partition.
     */
    public static ControlPlaneElection start(KafkaClients clients, String group, String topic, ControlPlane cp) {
        cp.standBy("not elected yet: group " + group + " on " + topic + " at " + clients.bootstrapServers());
        ControlPlaneElection election = new ControlPlaneElection(clients, group, topic, cp);
        election.thread.start();
        return election;
    }

    private void run() {
        long backoff = 500;
        while (!closing) {
            try (Admin a = Admin.create(admin)) {
                ensureTopic(a);
            } catch (RuntimeException e) {
                LOG.warnf("control-plane election: cannot create topic %s (%s); trying again in %d ms", topic,
                        e.getMessage(), backoff);
                sleep(backoff);
                backoff = Math.min(2 * backoff, LONGEST_BACKOFF_MS);
                continue;
            }
            try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(consumer)) {
                current = c;
                if (closing) return; // close() came before the consumer could be woken up
                c.subscribe(List.of(topic), new Listener());
                while (!closing) c.poll(Duration.ofMillis(500));
            } catch (WakeupException e) {
                // closing
            } catch (RuntimeException e) {
                controlPlane.standBy("the election's consumer failed: " + e.getMessage());
                LOG.warnf(e, "control-plane election: the consumer failed; joining again in %d ms", backoff);
                sleep(backoff);
                backoff = Math.min(2 * backoff, LONGEST_BACKOFF_MS);
            } finally {
                current = null;
            }
        }
    }

    private void ensureTopic(Admin a) {
        try {
            if (a.listTopics().names().get().contains(topic)) return;
            a.createTopics(List.of(new NewTopic(topic, Optional.of(1), Optional.empty()))).all().get();
        } catch (ExecutionException e) {
            if (!(e.getCause() instanceof TopicExistsException)) {
                throw new IllegalStateException(e.getCause().getMessage(), e.getCause());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted");
        }
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Leads while this member holds the partition. */
    private final class Listener implements ConsumerRebalanceListener {
        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
            if (!partitions.isEmpty()) controlPlane.lead("elected: holds " + partitions + " of the election's group");
        }

        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
            if (!partitions.isEmpty()) controlPlane.standBy("the election's partition went to another orchestrator");
        }

        @Override
        public void onPartitionsLost(Collection<TopicPartition> partitions) {
            if (!partitions.isEmpty()) controlPlane.standBy("this orchestrator missed its session in the election");
        }
    }

    /** Leaves the group at once (another orchestrator is elected within a rebalance) and stands by. */
    @Override
    public void close() {
        closing = true;
        KafkaConsumer<byte[], byte[]> c = current;
        if (c != null) c.wakeup();
        try {
            thread.join(15_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        controlPlane.standBy("this orchestrator stops");
    }
}
