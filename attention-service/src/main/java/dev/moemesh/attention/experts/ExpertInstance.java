package dev.moemesh.attention.experts;

/**
 * An expert service as this attention service uses it: its client and its circuit breaker, kept from one placement
 * to the next while the service is in both, so a switch neither reconnects nor forgets that a service failed.
 */
record ExpertInstance(ExpertClient client, InstanceBreaker breaker) {

    String address() {
        return client.address();
    }
}
