package dev.moemesh.wire;

import org.jboss.logging.Logger;
import org.jboss.logging.MDC;

/** The request id in every service's log lines: the MDC key {@value #MDC_KEY} (in JSON logs, {@code mdc.request_id}). */
public final class RequestIds {
    /** The MDC key, named as the wire's {@code request_id}; the services' console format prints it. */
    public static final String MDC_KEY = "request_id";

    private RequestIds() {}

    /** Logs one line with {@code id} in the MDC for it. */
    public static void log(Logger log, Logger.Level level, String id, String format, Object... args) {
        MDC.put(MDC_KEY, id);
        try {
            log.logf(level, format, args);
        } finally {
            MDC.remove(MDC_KEY);
        }
    }
}
