package dev.moemesh.orchestrator;

import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.config.SaslConfigs;
import org.apache.kafka.common.security.auth.SecurityProtocol;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.test.JaasUtils;
import org.apache.kafka.common.test.KafkaClusterTestKit;
import org.apache.kafka.common.test.TestKitNodes;

import java.util.HashMap;
import java.util.Map;

/**
 * A real Apache Kafka broker for tests, in this JVM: one KRaft node (broker and controller combined) from Kafka's own
 * test kit, on free loopback ports, with nothing of Docker. Ready in about two seconds.
 */
public final class InProcessKafka implements AutoCloseable {
    private final KafkaClusterTestKit cluster;

    private InProcessKafka(KafkaClusterTestKit cluster) {
        this.cluster = cluster;
    }

    /** A user the SASL broker knows ({@link #startWithSasl}), and its password. */
    public static final String USER = JaasUtils.KAFKA_PLAIN_USER1;
    public static final String PASSWORD = JaasUtils.KAFKA_PLAIN_USER1_PASSWORD;
    /** The SASL broker's super user, whom its authorizer lets do anything (to grant ACLs, or to test as a client). */
    public static final String ADMIN = JaasUtils.KAFKA_PLAIN_ADMIN;
    public static final String ADMIN_PASSWORD = JaasUtils.KAFKA_PLAIN_ADMIN_PASSWORD;

    public static InProcessKafka start() {
        return start(SecurityProtocol.PLAINTEXT, true);
    }

    /**
     * A broker whose clients' listener is {@code SASL_PLAINTEXT} with the {@code PLAIN} mechanism: only a client that
     * signs in as a user it knows ({@link #USER}) gets anywhere. Kafka's test kit writes the broker's JAAS file (its
     * users) and sets {@code java.security.auth.login.config} for this JVM, which only the broker reads; a client
     * gives its own {@code sasl.jaas.config} ({@link #saslClient}). Every signed-in user may do everything (no ACLs):
     * authentication is what is tested.
     */
    public static InProcessKafka startWithSasl() {
        return start(SecurityProtocol.SASL_PLAINTEXT, true);
    }

    /**
     * As {@link #startWithSasl}, with ACLs enforced: a signed-in user may do only what an ACL grants it ({@link #ADMIN}
     * anything).
     */
    public static InProcessKafka startWithAcls() {
        return start(SecurityProtocol.SASL_PLAINTEXT, false);
    }

    /** The settings of a client that signs in to a {@link #startWithSasl} broker as {@code user}. */
    public static Map<String, Object> saslClient(String bootstrapServers, String user, String password) {
        return Map.of(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers,
                CommonClientConfigs.SECURITY_PROTOCOL_CONFIG, SecurityProtocol.SASL_PLAINTEXT.name,
                SaslConfigs.SASL_MECHANISM, "PLAIN",
                SaslConfigs.SASL_JAAS_CONFIG, jaasConfig(user, password));
    }

    /** A producer of byte arrays that signs in to a {@link #startWithSasl} broker as {@code user}. */
    public KafkaProducer<byte[], byte[]> saslProducer(String user, String password) {
        Map<String, Object> p = new HashMap<>(saslClient(bootstrapServers(), user, password));
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "30000");
        return new KafkaProducer<>(p);
    }

    /** The {@code sasl.jaas.config} of a PLAIN client. */
    public static String jaasConfig(String user, String password) {
        return "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"" + user
                + "\" password=\"" + password + "\";";
    }

    private static InProcessKafka start(SecurityProtocol clients, boolean everyoneMayDoAnything) {
        try {
            var builder = new KafkaClusterTestKit.Builder(new TestKitNodes.Builder()
                    .setCombined(true).setNumBrokerNodes(1).setNumControllerNodes(1)
                    .setBrokerSecurityProtocol(clients).build());
            if (clients != SecurityProtocol.PLAINTEXT && everyoneMayDoAnything) {
                // the test kit's authorizer refuses a user without ACLs; here any signed-in user may do anything
                builder.setConfigProp("allow.everyone.if.no.acl.found", "true");
            } else if (clients != SecurityProtocol.PLAINTEXT) {
                // ACLs enforced: the node's own (plaintext) controller link and the admin are let through
                builder.setConfigProp("super.users", "User:ANONYMOUS;User:" + ADMIN);
            }
            KafkaClusterTestKit cluster = builder
                    // a group's first member gets its partitions at once, not after the default 3 s wait
                    .setConfigProp("group.initial.rebalance.delay.ms", "0")
                    // one broker: the internal topics cannot have the default three replicas
                    .setConfigProp("offsets.topic.replication.factor", "1")
                    .setConfigProp("offsets.topic.num.partitions", "1")
                    .setConfigProp("transaction.state.log.replication.factor", "1")
                    .setConfigProp("transaction.state.log.min.isr", "1")
                    .build();
            cluster.format();
            cluster.startup();
            cluster.waitForReadyBrokers();
            return new InProcessKafka(cluster);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while starting the test broker", e);
        } catch (Exception e) {
            throw new IllegalStateException("cannot start the in-process Kafka broker: " + e.getMessage(), e);
        }
    }

    public String bootstrapServers() {
        return cluster.bootstrapServers();
    }

    @Override
    public void close() throws Exception {
        cluster.close();
    }
}
