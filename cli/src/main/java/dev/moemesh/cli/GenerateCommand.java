package dev.moemesh.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.moemesh.core.engine.BatchingEngine;
import dev.moemesh.core.engine.EngineOptions;
import dev.moemesh.core.engine.Generation;
import dev.moemesh.core.engine.GenerationRequest;
import dev.moemesh.core.engine.SamplingParams;
import dev.moemesh.core.model.Model;
import dev.moemesh.core.model.ModelOptions;
import dev.moemesh.core.model.ModelFingerprint;
import dev.moemesh.core.tokenizer.ChatMessage;
import dev.moemesh.core.tokenizer.Tokenizer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;

/** {@code mesh generate}: one completion on the single-process engine. */
@Command(name = "generate", mixinStandardHelpOptions = true,
        description = "Generate a continuation of a prompt: with the single-process engine, or through a mesh (--target).")
final class GenerateCommand implements Callable<Integer> {

    @Option(names = "--model", description = "Hugging Face checkpoint directory (with --target: only for its tokenizer"
            + " and to check the service serves the same model)")
    Path model;

    @Option(names = "--target", description = "HOST:PORT of an attention service: generate through the mesh")
    String target;

    @Option(names = "--prompt-ids", split = ",", description = "prompt as token ids, e.g. 0,17,42")
    int[] promptIds;

    @Option(names = "--prompt", description = "prompt text (needs tokenizer.json in the model directory)")
    String prompt;

    @Option(names = "--chat", description = "wrap --prompt as a user message in the model's chat template")
    boolean chat;

    @Option(names = "--max-tokens", defaultValue = "32", description = "tokens to generate at most (default ${DEFAULT-VALUE})")
    int maxTokens;

    @Option(names = "--temperature", defaultValue = "0", description = "0 = greedy (default ${DEFAULT-VALUE})")
    float temperature;

    @Option(names = "--top-p", defaultValue = "1", description = "nucleus cut (default ${DEFAULT-VALUE})")
    float topP;

    @Option(names = "--top-k", defaultValue = "0", description = "top-k cut, 0 = none (default ${DEFAULT-VALUE})")
    int topK;

    @Option(names = "--seed", defaultValue = "0", description = "sampling seed (default ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--stop-ids", split = ",", description = "token ids that end generation, besides eos")
    int[] stopIds;

    @Option(names = "--ignore-eos", description = "keep generating past eos")
    boolean ignoreEos;

    @Option(names = "--max-seq-len", defaultValue = "0",
            description = "served context; YaRN engages only above original_max_position_embeddings (default: the config's own context, YaRN whenever configured)")
    int maxSeqLen;

    @Option(names = "--json", description = "print one JSON object on the last line")
    boolean json;

    @Option(names = "--speculative-tokens", defaultValue = "0", description = "tokens the checkpoint's MTP module drafts"
            + " per step for greedy decoding, verified by the next (same tokens, fewer steps); 0 = off (default ${DEFAULT-VALUE})")
    int speculativeTokens;

    @Override
    public Integer call() {
        if ((promptIds == null) == (prompt == null)) {
            throw new IllegalArgumentException("give exactly one of --prompt-ids or --prompt");
        }
        if (model == null && target == null) throw new IllegalArgumentException("give --model, --target or both");
        if (model != null && !Files.isDirectory(model)) {
            throw new IllegalArgumentException("model directory " + model + " does not exist");
        }
        SamplingParams sampling = new SamplingParams(maxTokens, temperature, topK, topP, seed, stopIds, ignoreEos);
        Optional<Tokenizer> tokenizer = model == null ? Optional.empty() : Tokenizer.load(model);
        int[] ids = promptIds != null ? promptIds : encode(tokenizer.orElseThrow(() -> new IllegalArgumentException(
                "--prompt needs tokenizer.json in the --model directory; use --prompt-ids")));
        GenerationRequest request = new GenerationRequest("cli-" + java.util.UUID.randomUUID(), ids, sampling);
        Generation g;
        if (target != null) {
            try (MeshClient client = new MeshClient(target)) {
                g = client.generate(request, model == null ? "" : ModelFingerprint.of(model));
            }
        } else {
            Model m = Model.load(model, maxSeqLen, null, ModelOptions.configured().withMtp(speculativeTokens > 0));
            g = new BatchingEngine(m, EngineOptions.defaults().withSpeculativeTokens(speculativeTokens))
                    .generate(List.of(request)).get(0);
        }
        String text = tokenizer.map(t -> t.decode(g.tokenIds(), true)).orElse(null);
        if (json) {
            System.out.println(toJson(g, text));
        } else {
            System.out.println(text != null ? text : Arrays.toString(g.tokenIds()));
            System.err.printf("%d prompt tokens, %d generated (%s); prefill %.1f tok/s, decode %.1f tok/s%n",
                    g.promptTokens(), g.tokenIds().length, g.finishReason().wireName(), g.prefillTokensPerSecond(),
                    g.decodeTokensPerSecond());
        }
        tokenizer.ifPresent(Tokenizer::close);
        return g.error() == null ? 0 : 1;
    }

    private int[] encode(Tokenizer t) {
        if (!chat) return t.encode(prompt, true);
        String rendered = t.chatTemplate().orElseThrow(() -> new IllegalArgumentException(
                "--chat needs a chat_template in " + model.resolve("tokenizer_config.json")))
                .render(List.of(new ChatMessage("user", prompt)), true);
        return t.encode(rendered, false);
    }

    static String toJson(Generation g, String text) {
        ObjectNode o = new ObjectMapper().createObjectNode();
        var ids = o.putArray("token_ids");
        for (int id : g.tokenIds()) ids.add(id);
        if (text != null) o.put("text", text);
        o.put("finish_reason", g.finishReason().wireName());
        o.put("prompt_tokens", g.promptTokens());
        o.put("completion_tokens", g.tokenIds().length);
        o.put("prefill_tokens_per_s", Math.round(g.prefillTokensPerSecond() * 10) / 10.0);
        o.put("decode_tokens_per_s", Math.round(g.decodeTokensPerSecond() * 10) / 10.0);
        if (g.error() != null) o.put("error", g.error());
        return o.toString();
    }
}
