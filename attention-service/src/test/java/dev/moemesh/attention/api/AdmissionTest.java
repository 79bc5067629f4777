package dev.moemesh.attention.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Status;
import org.junit.jupiter.api.Test;

import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;

class AdmissionTest {
    @Test
    void aFullBatchPlusAFullQueueIsTheLimitAndARefusalNamesBothSettings() {
        Admission a = new Admission(2, 1);
        assertTrue(a.tryAdmit());
        assertTrue(a.tryAdmit());
        assertTrue(a.tryAdmit(), "one may wait beyond the full batch");
        assertFalse(a.tryAdmit());
        var refusal = a.refusal("r9").getStatus();
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, refusal.getCode());
        assertTrue(refusal.getDescription().contains("request r9"), refusal.getDescription());
        assertTrue(refusal.getDescription().contains("attention.max-queued-requests 1"), refusal.getDescription());
        a.release();
        assertTrue(a.tryAdmit(), "an ended generation frees its place");
    }

    @Test
    void racingCallersNeverHoldMoreThanTheLimit() throws Exception {
        Admission a = new Admission(3, 2);
        AtomicInteger admitted = new AtomicInteger();
        ConcurrentLinkedQueue<Integer> seen = new ConcurrentLinkedQueue<>();
        CountDownLatch go = new CountDownLatch(1);
        Thread[] threads = new Thread[8];
        for (int i = 0; i < threads.length; i++) {
            threads[i] = Thread.ofPlatform().start(() -> {
                try {
                    go.await();
                } catch (InterruptedException e) {
                    return;
                }
                for (int k = 0; k < 1000; k++) {
                    if (a.tryAdmit()) {
                        seen.add(a.held());
                        admitted.incrementAndGet();
                        a.release();
                    }
                }
            });
        }
        go.countDown();
        for (Thread t : threads) t.join();
        assertTrue(admitted.get() > 0);
        assertTrue(seen.stream().allMatch(n -> n <= 5), "never more than 3 + 2 held");
        assertEquals(0, a.held());
    }

    @Test
    void aNegativeQueueIsRefusedAtStart() {
        assertThrows(IllegalArgumentException.class, () -> new Admission(4, -1));
    }
}
