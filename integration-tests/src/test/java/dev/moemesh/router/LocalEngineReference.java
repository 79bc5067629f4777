package dev.moemesh.router;

import dev.moemesh.core.checkpoint.Preset;
import dev.moemesh.core.engine.BatchingEngine;
import dev.moemesh.core.engine.EngineOptions;
import dev.moemesh.core.engine.Generation;
import dev.moemesh.core.engine.GenerationRequest;
import dev.moemesh.core.engine.SamplingParams;
import dev.moemesh.core.engine.TokenListener;
import dev.moemesh.core.engine.TokenLogprobs;
import dev.moemesh.core.model.Model;
import dev.moemesh.core.model.TestModels;
import dev.moemesh.core.tokenizer.ChatMessage;
import dev.moemesh.core.tokenizer.Tokenizer;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** What the tests compare the doors with: the single-process engine and the tokenizer on the same tiny checkpoint. */
public final class LocalEngineReference {
    public static final Path MODEL = TestModels.tiny(Preset.TINY_V3);
    /** The name the router serves the checkpoint under: its directory's. */
    public static final String NAME = MODEL.getFileName().toString();

    private LocalEngineReference() {}

    /** Greedy tokens, eos ignored. */
    public static int[] greedyTokens(int[] prompt, int maxTokens) {
        var r = new GenerationRequest("reference", prompt, new SamplingParams(maxTokens, 0f, 0, 1f, 0, null, true));
        return new BatchingEngine(Model.load(MODEL, 0), EngineOptions.defaults()).generate(List.of(r)).get(0).tokenIds();
    }

    /** Sampled tokens with this temperature and seed, eos ignored. */
    public static int[] sampledTokens(int[] prompt, int maxTokens, float temperature, long seed) {
        var r = new GenerationRequest("reference", prompt, new SamplingParams(maxTokens, temperature, 0, 1f, seed, null,
                true));
        return new BatchingEngine(Model.load(MODEL, 0), EngineOptions.defaults()).generate(List.of(r)).get(0).tokenIds();
    }

    /** Each greedy token's log-probabilities with {@code k} alternatives, eos ignored, as the engine tells them. */
    public static List<TokenLogprobs> greedyLogprobs(int[] prompt, int maxTokens, int k) {
        List<TokenLogprobs> told = new ArrayList<>();
        BatchingEngine engine = new BatchingEngine(Model.load(MODEL, 0), EngineOptions.defaults());
        engine.submit(new GenerationRequest("reference", prompt, new SamplingParams(maxTokens, 0f, 0, 1f, 0, null, true,
                k)), new TokenListener() {
            @Override
            public void onToken(String requestId, int tokenId, TokenLogprobs logprobs) {
                told.add(logprobs);
            }

            @Override
            public void onFinish(Generation generation) {}
        });
        while (engine.hasWork()) engine.step();
        return told;
    }

    /** Each token's own text, by id, special tokens included. */
    public static String[] tokenTexts() {
        try (Tokenizer t = Tokenizer.load(MODEL).orElseThrow()) {
            String[] texts = new String[t.vocabSize()];
            for (int id = 0; id < texts.length; id++) texts[id] = t.decode(new int[] {id}, false);
            return texts;
        }
    }

    /** One user message through the checkpoint's chat template, with the generation prompt. */
    public static int[] chatPrompt(String userMessage) {
        try (Tokenizer t = Tokenizer.load(MODEL).orElseThrow()) {
            return t.encode(t.chatTemplate().orElseThrow()
                    .render(List.of(new ChatMessage("user", userMessage)), true), false);
        }
    }

    public static String decode(int[] ids) {
        try (Tokenizer t = Tokenizer.load(MODEL).orElseThrow()) {
            return t.decode(ids, true);
        }
    }
}
