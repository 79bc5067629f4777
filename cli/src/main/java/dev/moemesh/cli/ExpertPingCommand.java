package dev.moemesh.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.google.protobuf.ByteString;
import dev.moemesh.proto.DescribeRequest;
import dev.moemesh.proto.DescribeResponse;
import dev.moemesh.proto.ExpertServiceGrpc;
import dev.moemesh.proto.LayerExpert;
import dev.moemesh.proto.RunExpertsRequest;
import dev.moemesh.proto.RunExpertsResponse;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.StreamObserver;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.util.Arrays;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.Callable;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * {@code mesh expert-ping}: the round trip of one expert service's persistent stream, one request at a time, and
 * the service's own compute time: what the transport costs, apart from the experts.
 */
@Command(name = "expert-ping", mixinStandardHelpOptions = true,
        description = "Measure the round trip of RunExpertsStream requests to one expert service, one at a time.")
final class ExpertPingCommand implements Callable<Integer> {

    @Option(names = "--target", required = true, description = "HOST:PORT of an expert service")
    String target;

    @Option(names = "--rows", defaultValue = "0", description = "token rows per request, all for the first expert the"
            + " service holds; 0 sends an empty request (default ${DEFAULT-VALUE})")
    int rows;

    // a few thousand calls leave the JIT unfinished: 3000 (1000 to warm up) measured ~220 us empty round trips where
    // 20000 measure ~70-110 us on the same idle 2-core machine
    @Option(names = "--calls", defaultValue = "20000", description = "requests; the first third warm up (default ${DEFAULT-VALUE})")
    int calls;

    @Override
    public Integer call() throws InterruptedException {
        if (rows < 0 || calls < 3) throw new IllegalArgumentException("--rows must be >= 0 and --calls >= 3");
        ManagedChannel channel = NettyChannelBuilder.forTarget(target).usePlaintext().directExecutor().build();
        try {
            DescribeResponse d;
            try {
                d = ExpertServiceGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS)
                        .describe(DescribeRequest.getDefaultInstance());
            } catch (StatusRuntimeException e) {
                throw new IllegalStateException("expert service " + target + ": " + e.getStatus().getCode()
                        + (e.getStatus().getDescription() == null ? "" : ": " + e.getStatus().getDescription()), e);
            }
            if (rows > 0 && d.getHeldCount() == 0) throw new IllegalArgumentException(target + " holds no experts");
            LayerExpert first = rows > 0 ? d.getHeld(0) : LayerExpert.getDefaultInstance();
            RunExpertsRequest.Builder request = RunExpertsRequest.newBuilder().setModelFingerprint(d.getModelFingerprint())
                    .setLayer(first.getLayer()).setHidden(d.getHidden());
            if (rows > 0) {
                request.addExpertIds(first.getExpert()).addGroupSizes(rows)
                        .setHiddenStates(ByteString.copyFrom(new byte[rows * d.getHidden() * 2]));
            }
            BlockingQueue<Object> answers = new LinkedBlockingQueue<>();
            StreamObserver<RunExpertsRequest> stream = ExpertServiceGrpc.newStub(channel).runExpertsStream(
                    new StreamObserver<>() {
                        @Override
                        public void onNext(RunExpertsResponse r) {
                            answers.add(new long[] {System.nanoTime(), r.getComputeNanos(), r.hasError() ? 1 : 0,
                                    r.getQueueNanos()});
                        }

                        @Override
                        public void onError(Throwable t) {
                            answers.add(t);
                        }

                        @Override
                        public void onCompleted() {}
                    });
            long[] roundTrip = new long[calls];
            long[] compute = new long[calls];
            long[] queue = new long[calls];
            for (int i = 0; i < calls; i++) {
                long sent = System.nanoTime();
                stream.onNext(request.setSequence(i).build());
                Object answer = answers.poll(30, TimeUnit.SECONDS);
                if (answer == null) throw new IllegalStateException(target + " did not answer within 30 s");
                if (answer instanceof Throwable t) throw new IllegalStateException(target + ": " + t.getMessage(), t);
                long[] a = (long[]) answer;
                if (a[2] != 0) throw new IllegalStateException(target + " refused the request");
                roundTrip[i] = a[0] - sent;
                compute[i] = a[1];
                queue[i] = a[3];
            }
            stream.onCompleted();
            ObjectNode out = new ObjectMapper().createObjectNode();
            out.put("rows", rows).put("hidden", d.getHidden()).put("backend", d.getBackend());
            long[] rt = Arrays.copyOfRange(roundTrip, calls / 3, calls);
            long[] cp = Arrays.copyOfRange(compute, calls / 3, calls);
            long[] qu = Arrays.copyOfRange(queue, calls / 3, calls);
            Arrays.sort(rt);
            Arrays.sort(cp);
            Arrays.sort(qu);
            out.put("round_trip_p50_us", rt[rt.length / 2] / 1000).put("round_trip_p90_us", rt[rt.length * 9 / 10] / 1000)
                    .put("compute_p50_us", cp[cp.length / 2] / 1000).put("queue_p50_us", qu[qu.length / 2] / 1000);
            System.out.println(out);
            return 0;
        } finally {
            channel.shutdownNow();
        }
    }
}
