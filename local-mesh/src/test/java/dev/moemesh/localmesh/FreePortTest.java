package dev.moemesh.localmesh;

import org.junit.jupiter.api.Test;

import java.util.HashSet;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertTrue;

class FreePortTest {

    @Test
    void aPortIsHandedOutOnceEvenWhenTheSystemOffersItAgain() {
        // Linux hands a closed probe's ephemeral port out again often: about one call in eight of 2000 here
        Set<Integer> seen = new HashSet<>();
        for (int i = 0; i < 2000; i++) {
            int port = LocalMesh.freePort();
            assertTrue(seen.add(port), "port " + port + " handed out twice, at call " + i);
        }
    }
}
