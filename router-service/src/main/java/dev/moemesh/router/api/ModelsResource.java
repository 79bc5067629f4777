package dev.moemesh.router.api;

import dev.moemesh.router.prompt.Prompts;
import jakarta.inject.Inject;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.MediaType;
import org.eclipse.microprofile.openapi.annotations.Operation;
import org.eclipse.microprofile.openapi.annotations.media.Content;
import org.eclipse.microprofile.openapi.annotations.media.Schema;
import org.eclipse.microprofile.openapi.annotations.responses.APIResponse;

/** OpenAI's {@code GET /v1/models}: the one model this router serves. */
@Path("/v1/models")
public class ModelsResource {
    private final Prompts prompts;
    private final long started = System.currentTimeMillis() / 1000;

    @Inject
    public ModelsResource(Prompts prompts) {
        this.prompts = prompts;
    }

    @GET
    @Produces(MediaType.APPLICATION_JSON)
    @Operation(summary = "The model this router serves")
    @APIResponse(responseCode = "200", description = "The served model",
            content = @Content(mediaType = MediaType.APPLICATION_JSON, schema = @Schema(ref = "ModelList")))
    @APIResponse(responseCode = "401", ref = "Unauthorized")
    public String models() {
        return OpenAiResponses.models(prompts.modelName(), started).toString();
    }
}
