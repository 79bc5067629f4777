package dev.moemesh.tls;

import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.ForwardingServerCallListener;
import io.grpc.Grpc;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServiceDescriptor;
import io.grpc.Status;

import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.function.BiFunction;
import java.util.function.Consumer;

import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;

import org.jboss.logging.Logger;

/**
 * Admits a call to a guarded service only from a peer whose verified TLS certificate names a role the method allows
 * (and, for some methods, only for the instance the request names). Everything else is refused with
 * {@code PERMISSION_DENIED} and one log line, and reported to the refusal counter.
 *
 * <p>The server's TLS (client certificates required, one CA) makes the certificate trustworthy; this reads its roles.
 * Services not guarded (health, reflection) pass through. {@link MeshAccess} holds the mesh's table.
 */
public final class RoleGuard implements ServerInterceptor {

    private static final Logger LOG = Logger.getLogger(RoleGuard.class);

    /** the caller's identity, in the gRPC context of an admitted call */
    public static final Context.Key<MeshIdentity> PEER = Context.key("moemesh-peer");

    /** A refused call: the method's full name and why, in a few words (the counter's tag). */
    public record Refusal(String method, String reason) {}

    private record Rule(Set<MeshRole> roles, BiFunction<MeshIdentity, Object, String> onRequest) {}

    private final Map<String, Rule> rules;
    private final Set<String> guardedServices;
    private final Consumer<Refusal> refusals;

    private RoleGuard(Builder builder, Consumer<Refusal> refusals) {
        this.rules = Map.copyOf(builder.rules);
        this.guardedServices = Set.copyOf(builder.services);
        this.refusals = refusals;
    }

    public static Builder builder() {
        return new Builder();
    }

    @Override
    public <ReqT, RespT> ServerCall.Listener<ReqT> interceptCall(ServerCall<ReqT, RespT> call, Metadata headers,
                                                                 ServerCallHandler<ReqT, RespT> next) {
        MethodDescriptor<ReqT, RespT> method = call.getMethodDescriptor();
        if (!guardedServices.contains(method.getServiceName())) {
            return next.startCall(call, headers);
        }
        String name = method.getFullMethodName();
        SSLSession session = call.getAttributes().get(Grpc.TRANSPORT_ATTR_SSL_SESSION);
        if (session == null) {
            return refuse(call, name, "plaintext", "a plaintext call; this service takes mutual TLS only", null);
        }
        MeshIdentity peer;
        try {
            Certificate[] chain = session.getPeerCertificates();
            if (chain.length == 0 || !(chain[0] instanceof X509Certificate certificate)) {
                return refuse(call, name, "no-certificate", "no client certificate", null);
            }
            peer = MeshIdentity.of(certificate);
        } catch (SSLPeerUnverifiedException e) {
            return refuse(call, name, "no-certificate", "no client certificate", null);
        }
        Rule rule = rules.get(name);
        if (rule == null) {
            return refuse(call, name, "no-rule", "no role may call it", peer);
        }
        if (peer.roles().stream().noneMatch(rule.roles()::contains)) {
            return refuse(call, name, "role", "it takes " + labels(rule.roles()) + " certificates, the caller's names "
                    + peer.rolesLabel(), peer);
        }
        Context context = Context.current().withValue(PEER, peer);
        ServerCall.Listener<ReqT> listener = Contexts.interceptCall(context, call, headers, next);
        return rule.onRequest() == null ? listener : new RequestCheck<>(listener, call, name, rule, peer);
    }

    private <ReqT, RespT> ServerCall.Listener<ReqT> refuse(ServerCall<ReqT, RespT> call, String method, String reason,
                                                           String why, MeshIdentity peer) {
        String line = "refused " + shortName(method) + ": " + why + (peer == null ? "" : " (" + peer.subject() + ")");
        LOG.warn(line);
        refusals.accept(new Refusal(method, reason));
        call.close(Status.PERMISSION_DENIED.withDescription(line), new Metadata());
        return new ServerCall.Listener<>() {};
    }

    private static String shortName(String fullMethodName) {
        int slash = fullMethodName.lastIndexOf('/');
        int dot = fullMethodName.lastIndexOf('.', slash);
        return fullMethodName.substring(dot + 1);
    }

    private static String labels(Set<MeshRole> roles) {
        return String.join(" or ", roles.stream().map(MeshRole::label).sorted().toList());
    }

    /** Checks each request message against the rule before the service sees it; a refused call sees nothing more. */
    private final class RequestCheck<ReqT, RespT> extends ForwardingServerCallListener.SimpleForwardingServerCallListener<ReqT> {
        private final ServerCall<ReqT, RespT> call;
        private final String method;
        private final Rule rule;
        private final MeshIdentity peer;
        private boolean refused;

        RequestCheck(ServerCall.Listener<ReqT> delegate, ServerCall<ReqT, RespT> call, String method, Rule rule,
                     MeshIdentity peer) {
            super(delegate);
            this.call = call;
            this.method = method;
            this.rule = rule;
            this.peer = peer;
        }

        @Override
        public void onMessage(ReqT message) {
            if (refused) {
                return;
            }
            String why = rule.onRequest().apply(peer, message);
            if (why != null) {
                refused = true;
                refuse(call, method, "request", why, peer);
                return;
            }
            super.onMessage(message);
        }

        @Override
        public void onHalfClose() {
            if (!refused) {
                super.onHalfClose();
            }
        }

        @Override
        public void onReady() {
            if (!refused) {
                super.onReady();
            }
        }

        @Override
        public void onCancel() {
            if (!refused) {
                super.onCancel();
            }
        }

        @Override
        public void onComplete() {
            if (!refused) {
                super.onComplete();
            }
        }
    }

    public static final class Builder {
        private final Map<String, Rule> rules = new HashMap<>();
        private final Set<String> services = new HashSet<>();

        /** The roles that may call the method. */
        public Builder allow(MethodDescriptor<?, ?> method, MeshRole first, MeshRole... more) {
            return put(method, EnumSet.of(first, more), null);
        }

        /**
         * The roles that may call the method, and a check of each request against the caller: it returns why the
         * request is refused, or null.
         */
        @SuppressWarnings("unchecked")
        public <ReqT> Builder allowIf(MethodDescriptor<ReqT, ?> method, BiFunction<MeshIdentity, ReqT, String> check,
                                      MeshRole first, MeshRole... more) {
            return put(method, EnumSet.of(first, more), (BiFunction<MeshIdentity, Object, String>) check);
        }

        private Builder put(MethodDescriptor<?, ?> method, Set<MeshRole> roles,
                            BiFunction<MeshIdentity, Object, String> check) {
            services.add(method.getServiceName());
            rules.put(method.getFullMethodName(), new Rule(roles, check));
            return this;
        }

        /**
         * @param services the services it guards: each method of each must have a rule (a method added to a
         *                 contract without one fails here, at start, not open at run time)
         * @param refusals told of each refusal (a counter)
         */
        public RoleGuard build(Set<ServiceDescriptor> services, Consumer<Refusal> refusals) {
            for (ServiceDescriptor service : services) {
                this.services.add(service.getName());
                for (MethodDescriptor<?, ?> method : service.getMethods()) {
                    if (!rules.containsKey(method.getFullMethodName())) {
                        throw new IllegalStateException("no role rule for " + method.getFullMethodName());
                    }
                }
            }
            return new RoleGuard(this, refusals);
        }
    }
}
