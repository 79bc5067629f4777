package dev.moemesh.localmesh;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;

class ServiceLogTest {

    @TempDir
    Path tmp;

    private ServiceLog log(String text) throws IOException {
        Path file = Files.writeString(tmp.resolve("service.log"), text);
        return new ServiceLog(file);
    }

    @Test
    void aQuarkusServiceThatFailsAtStartIsNamedByItsRootCause() throws IOException {
        // the shape of a router's log when its model directory had no tokenizer.json (stack frames trimmed)
        ServiceLog log = log("""
                WARNING: Using incubator modules: jdk.incubator.vector
                19:26:21,202 WARN  [io.qu.gr.ru.GrpcServerRecorder] (main)  Using legacy gRPC support
                19:26:21,963 ERROR [io.qu.gr.ru.GrpcServerRecorder] (main)  Unable to start the gRPC server: java.lang.RuntimeException: Error injecting dev.moemesh.router.prompt.Prompts
                \tat dev.moemesh.router.api.InferenceGrpcService_Bean.create(Unknown Source)
                Caused by: java.lang.IllegalArgumentException: no tokenizer.json in router.model-dir /m: the router needs it
                \tat dev.moemesh.router.RouterBeans.prompts(RouterBeans.java:17)
                \t... 28 more

                19:26:22,080 ERROR [io.qu.ru.Application] (main)  Failed to start application: java.lang.RuntimeException: Failed to start quarkus
                \tat io.quarkus.runner.ApplicationImpl.doStart(Unknown Source)
                Caused by: java.lang.RuntimeException: Error injecting dev.moemesh.router.prompt.Prompts
                \tat io.quarkus.arc.impl.AbstractSharedContext.createInstanceHandle(AbstractSharedContext.java:119)
                Caused by: java.lang.IllegalArgumentException: no tokenizer.json in router.model-dir /m: the router needs it
                \tat dev.moemesh.router.RouterBeans.prompts(RouterBeans.java:17)
                """);
        assertEquals("no tokenizer.json in router.model-dir /m: the router needs it", log.cause());
    }

    @Test
    void withoutAStackTraceTheFirstErrorLineThenTheLastLineSayWhy() throws IOException {
        assertEquals("Port 9200 seems to be in use by another process", log("""
                19:26:21,202 INFO  [io.quarkus] (main)  starting
                19:26:21,963 ERROR [io.qu.ru.Application] (main)  Port 9200 seems to be in use by another process
                19:26:21,964 INFO  [io.quarkus] (main)  stopped
                """).cause());
        assertEquals("Error: Unable to access jarfile /x/quarkus-run.jar",
                log("Error: Unable to access jarfile /x/quarkus-run.jar\n\n").cause());
        assertEquals("java.lang.OutOfMemoryError", log("Caused by: java.lang.OutOfMemoryError\n").cause());
        assertEquals("it wrote nothing to its log", log("").cause());
        assertEquals("it wrote nothing to its log", new ServiceLog(tmp.resolve("absent.log")).cause());
    }
}
