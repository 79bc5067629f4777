package dev.moemesh.localmesh;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** A started process's log file, read back to say in one line why the process did not come up. */
record ServiceLog(Path file) {
    /** {@code Caused by: some.Exception: message}: the message a failed start's root cause gives. */
    private static final Pattern CAUSED_BY = Pattern.compile("^Caused by: ([\\w.$]+)(?:: (.*))?$");
    /** A Quarkus log line at ERROR: {@code 19:26:22,080 ERROR [category] (thread)  message}. */
    private static final Pattern ERROR_LINE = Pattern.compile("^\\S+ ERROR +\\[[^]]*] \\([^)]*\\) +(.*)$");

    /**
     * Why the process failed to start, in one line: the message of the innermost {@code Caused by:} of the last
     * stack trace (what the service's own check said), else the first ERROR line, else the last line written.
     */
    String cause() {
        List<String> lines = lines();
        String cause = null;
        for (String line : lines) {
            Matcher m = CAUSED_BY.matcher(line);
            if (m.matches()) cause = m.group(2) == null || m.group(2).isBlank() ? m.group(1) : m.group(2).strip();
        }
        if (cause != null) return cause;
        for (String line : lines) {
            Matcher m = ERROR_LINE.matcher(line);
            if (m.matches()) return m.group(1).strip();
        }
        for (int i = lines.size() - 1; i >= 0; i--) {
            if (!lines.get(i).isBlank()) return lines.get(i).strip();
        }
        return "it wrote nothing to its log";
    }

    /** The last lines of the log, indented, for error messages that need more than the cause. */
    String tail() {
        List<String> lines = lines();
        if (lines.isEmpty()) return " (no log at " + file + ")";
        return "\n  " + String.join("\n  ", lines.subList(Math.max(0, lines.size() - 8), lines.size()))
                + "\n  (whole log: " + file + ")";
    }

    private List<String> lines() {
        try {
            // lenient decoding: a log cut mid-character still says why
            return new String(Files.readAllBytes(file), StandardCharsets.UTF_8).lines().toList();
        } catch (IOException e) {
            return List.of();
        }
    }
}
