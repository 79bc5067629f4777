package dev.moemesh.architecture;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.apache.maven.model.Dependency;
import org.apache.maven.model.Model;
import org.apache.maven.model.io.xpp3.MavenXpp3Reader;
import org.codehaus.plexus.util.xml.pull.XmlPullParserException;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

/**
 * The module graph drawn in docs/architecture.md is the reactor's: it is rendered from the POMs here and must equal
 * the committed one. {@code -Dmodule-graph.write=true} writes the rendered graph into the page instead.
 */
class ModuleGraphTest {
    private static final Path HOME = Path.of(System.getProperty("mesh.home", "..")).toAbsolutePath().normalize();
    private static final Path PAGE = HOME.resolve("docs/architecture.md");
    static final String BEGIN = "<!-- module graph: rendered from the POMs by ModuleGraphTest; do not edit by hand -->";
    static final String END = "<!-- end of module graph -->";

    @Test
    void theArchitecturePagesGraphIsTheReactors() throws Exception {
        String rendered = render(HOME);
        String page = Files.readString(PAGE);
        int begin = page.indexOf(BEGIN);
        int end = page.indexOf(END);
        assertTrue(begin >= 0 && end > begin, PAGE + " has no module graph between " + BEGIN + " and " + END);
        String committed = page.substring(begin + BEGIN.length(), end);
        if (Boolean.getBoolean("module-graph.write") && !committed.equals(rendered)) {
            Files.writeString(PAGE, page.substring(0, begin + BEGIN.length()) + rendered + page.substring(end));
            return;
        }
        assertEquals(rendered, committed, "the module graph in " + PAGE + " is not the POMs' any more; run this test"
                + " with -Dmodule-graph.write=true to redraw it, and read the change");
    }

    @Test
    void noServiceDependsOnAnother() throws Exception {
        Set<String> services = Set.of("attention-service", "expert-service", "orchestrator", "router-service");
        for (String module : modules(HOME)) {
            if (module.equals("integration-tests")) continue; // it launches them
            for (Dependency d : pom(HOME.resolve(module)).getDependencies()) {
                assertTrue(!"dev.moemesh".equals(d.getGroupId()) || !services.contains(d.getArtifactId()),
                        module + " depends on the service " + d.getArtifactId());
            }
        }
    }

    /** A Mermaid flowchart: a node per module, an arrow per dependency on another module (dotted: test scope). */
    static String render(Path home) throws IOException, XmlPullParserException {
        List<String> modules = modules(home);
        StringBuilder out = new StringBuilder("\n```mermaid\nflowchart BT\n");
        for (String m : modules) out.append("  ").append(id(m)).append('[').append(m).append("]\n");
        Set<String> edges = new TreeSet<>();
        for (String m : modules) {
            for (Dependency d : pom(home.resolve(m)).getDependencies()) {
                if (!"dev.moemesh".equals(d.getGroupId()) || !modules.contains(d.getArtifactId())) continue;
                edges.add("  " + id(m) + arrow(d) + id(d.getArtifactId()));
            }
        }
        edges.forEach(e -> out.append(e).append('\n'));
        return out.append("```\n").toString();
    }

    private static String arrow(Dependency d) {
        if ("pom".equals(d.getType())) return " -. launches .-> ";
        if ("test".equals(d.getScope())) return " -. test .-> ";
        return " --> ";
    }

    private static String id(String module) {
        return module.replace('-', '_');
    }

    private static List<String> modules(Path home) throws IOException, XmlPullParserException {
        return new ArrayList<>(pom(home).getModules());
    }

    private static Model pom(Path dir) throws IOException, XmlPullParserException {
        try (Reader r = Files.newBufferedReader(dir.resolve("pom.xml"))) {
            return new MavenXpp3Reader().read(r);
        }
    }
}
