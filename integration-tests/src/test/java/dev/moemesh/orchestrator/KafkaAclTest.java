package dev.moemesh.orchestrator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.moemesh.core.checkpoint.Preset;
import dev.moemesh.core.model.TestModels;
import dev.moemesh.localmesh.LocalMesh;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.errors.TopicAuthorizationException;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourceType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

/**
 * The orchestrator against a broker that enforces ACLs, signed in as a user granted exactly what docs/kafka.md's
 * "ACLs" lists: it makes its topics, serves a request end to end and writes its dead letter; the same user cannot
 * write to the requests topic (so the broker does enforce them).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class KafkaAclTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String GROUP = "acl-orchestrator";

    private final Path model = TestModels.tiny(Preset.TINY_V3);
    private InProcessKafka kafka;
    private LocalMesh mesh;

    @BeforeAll
    void start() throws Exception {
        kafka = InProcessKafka.startWithAcls();
        try (Admin admin = Admin.create(admin())) {
            admin.createAcls(orchestratorAcls(InProcessKafka.USER)).all().get(60, TimeUnit.SECONDS);
        }
        mesh = new LocalMesh(LocalMesh.home(), LocalMesh.home().resolve("integration-tests/target/mesh-test-logs/acl"),
                List.of("-Xmx384m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"));
    }

    @AfterAll
    void stop() throws Exception {
        if (mesh != null) mesh.close();
        if (kafka != null) kafka.close();
    }

    /** docs/kafka.md, ACLs: what the orchestrator's principal needs, with the default topic names and its group. */
    private static List<AclBinding> orchestratorAcls(String user) {
        List<AclBinding> acls = new ArrayList<>();
        allow(acls, user, ResourceType.TOPIC, "inference.requests", PatternType.LITERAL, AclOperation.READ,
                AclOperation.DESCRIBE);
        allow(acls, user, ResourceType.TOPIC, "inference.responses", PatternType.LITERAL, AclOperation.WRITE,
                AclOperation.READ, AclOperation.DESCRIBE);
        allow(acls, user, ResourceType.TOPIC, "inference.dlq", PatternType.LITERAL, AclOperation.WRITE,
                AclOperation.DESCRIBE);
        allow(acls, user, ResourceType.TOPIC, "inference.", PatternType.PREFIXED, AclOperation.CREATE);
        allow(acls, user, ResourceType.GROUP, GROUP, PatternType.LITERAL, AclOperation.READ);
        return acls;
    }

    private static void allow(List<AclBinding> acls, String user, ResourceType type, String name, PatternType pattern,
                              AclOperation... operations) {
        for (AclOperation op : operations) {
            acls.add(new AclBinding(new ResourcePattern(type, name, pattern),
                    new AccessControlEntry("User:" + user, "*", op, AclPermissionType.ALLOW)));
        }
    }

    private Map<String, Object> admin() {
        return InProcessKafka.saslClient(kafka.bootstrapServers(), InProcessKafka.ADMIN, InProcessKafka.ADMIN_PASSWORD);
    }

    private KafkaProducer<byte[], byte[]> producer(String user, String password) {
        return kafka.saslProducer(user, password);
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void withTheDocumentedAclsTheOrchestratorServesAndDeadLettersAndNothingMore() throws Exception {
        LocalMesh.Service attention = mesh.startAttentionService("acl-attention", model, List.of(),
                LocalMesh.freePort(), List.of(), Duration.ofMinutes(3));
        mesh.startOrchestrator("acl-orchestrator", model, kafka.bootstrapServers(), List.of(attention.address()),
                LocalMesh.freePort(), LocalMesh.freePort(), List.of("-Dkafka.security.protocol=SASL_PLAINTEXT",
                        "-Dkafka.sasl.mechanism=PLAIN", "-Dorchestrator.group-id=" + GROUP,
                        "-Dkafka.sasl.jaas.config=" + InProcessKafka.jaasConfig(InProcessKafka.USER,
                                InProcessKafka.PASSWORD)), Duration.ofMinutes(3));
        try (KafkaProducer<byte[], byte[]> client = producer(InProcessKafka.ADMIN, InProcessKafka.ADMIN_PASSWORD)) {
            client.send(new ProducerRecord<>("inference.requests", utf8("acl-1"), utf8("{\"id\":\"acl-1\","
                    + "\"prompt_token_ids\":[3,1,4],\"max_tokens\":4,\"ignore_eos\":true}"))).get(60, TimeUnit.SECONDS);
            client.send(new ProducerRecord<>("inference.requests", utf8("acl-2"), utf8("not json")))
                    .get(60, TimeUnit.SECONDS);
        }
        var responses = TopicReader.readUntil(admin(), "inference.responses", rs -> !rs.isEmpty(),
                Duration.ofSeconds(60));
        JsonNode completed = JSON.readTree(responses.get(0).value());
        assertEquals("completed", completed.get("type").asText(), completed.toString());
        assertEquals(4, completed.get("token_ids").size());
        var dead = TopicReader.readUntil(admin(), "inference.dlq", rs -> !rs.isEmpty(), Duration.ofSeconds(60));
        assertEquals("acl-2", new String(dead.get(0).key(), StandardCharsets.UTF_8));

        try (KafkaProducer<byte[], byte[]> orchestratorsUser = producer(InProcessKafka.USER, InProcessKafka.PASSWORD)) {
            ExecutionException e = assertThrows(ExecutionException.class, () -> orchestratorsUser.send(
                    new ProducerRecord<>("inference.requests", utf8("x"), utf8("{}"))).get(60, TimeUnit.SECONDS));
            assertInstanceOf(TopicAuthorizationException.class, e.getCause(), "the ACLs are enforced: " + e.getCause());
        }
    }
}
