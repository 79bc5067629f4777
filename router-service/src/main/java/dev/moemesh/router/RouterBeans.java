package dev.moemesh.router;

import dev.moemesh.client.AttentionPool;
import dev.moemesh.client.DoorAdmission;
import dev.moemesh.client.DoorMeters;
import dev.moemesh.core.tokenizer.Tokenizer;
import dev.moemesh.router.prompt.Prompts;
import dev.moemesh.tls.MeshChannels;
import io.micrometer.core.instrument.MeterRegistry;
import jakarta.enterprise.inject.Disposes;
import jakarta.enterprise.inject.Produces;
import jakarta.inject.Singleton;
import org.jboss.logging.Logger;

import java.util.Optional;

/** What both doors share: the served model's tokenizer (if it has one) and limits, the pool of attention services, their meters. */
public class RouterBeans {
    private static final Logger LOG = Logger.getLogger(RouterBeans.class);

    @Produces
    @Singleton
    Prompts prompts(RouterSettings settings) {
        Optional<Tokenizer> tokenizer = Tokenizer.load(settings.modelDir());
        if (tokenizer.isEmpty()) {
            LOG.warnf("no tokenizer.json in router.model-dir %s: serving token ids only (text prompts and chat"
                    + " messages are refused, answers carry token_ids and empty text)", settings.modelDir());
        }
        String name = settings.modelName().orElse(settings.modelDir().getFileName().toString());
        return new Prompts(name, tokenizer, settings.maxPromptTokens(), settings.maxTokens());
    }

    void closeTokenizer(@Disposes Prompts prompts) {
        prompts.close();
    }

    @Produces
    @Singleton
    AttentionPool attentionPool(RouterSettings settings, MeshChannels channels) {
        return new AttentionPool(settings.attentionServices(), "router.attention-services",
                settings.attentionRetry().policy(), channels);
    }

    void closePool(@Disposes AttentionPool pool) {
        pool.close();
    }

    /** One bound for both doors: they share the attention services it protects. */
    @Produces
    @Singleton
    DoorAdmission admission(RouterSettings settings) {
        return new DoorAdmission(settings.maxInFlight(), "router.max-in-flight", settings.retryAfter());
    }

    /** The routers sharing each key's bounds: this one alone until the control plane ({@link RouterMembership}) says. */
    @Produces
    @Singleton
    RouterPeers peers(MeterRegistry registry) {
        return new RouterPeers(registry);
    }

    @Produces
    @Singleton
    DoorMeters doorMeters(MeterRegistry registry) {
        return new DoorMeters(registry);
    }
}
