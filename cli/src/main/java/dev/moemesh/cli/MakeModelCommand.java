package dev.moemesh.cli;

import dev.moemesh.core.checkpoint.PredictableCheckpoint;
import dev.moemesh.core.checkpoint.Preset;
import dev.moemesh.core.checkpoint.RandomCheckpoint;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code mesh make-model}: writes a random-weight checkpoint in Hugging Face's layout. */
@Command(name = "make-model", mixinStandardHelpOptions = true,
        description = "Write a checkpoint with random weights (sharded safetensors, config.json, tokenizer).")
final class MakeModelCommand implements Callable<Integer> {

    @Option(names = "--preset", required = true, description = "tiny-v3, tiny-v2lite or bench")
    String preset;

    @Option(names = "--out", required = true, description = "directory to write")
    Path out;

    @Option(names = "--seed", defaultValue = "1", description = "weight seed (default ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--fp8", description = "store linear weights as FP8 E4M3 with 128x128 block scales, as the V3 release")
    boolean fp8;

    @Option(names = "--ue8m0", description = "with --fp8: block scales that are powers of two (scale_fmt ue8m0), as"
            + " DeepSeek-V3.1's release; up to 16 rows then fold them into the activations, one multiply fewer a weight")
    boolean ue8m0;

    @Option(names = "--mtp-layers", defaultValue = "0", description = "multi-token-prediction layers after the main"
            + " ones, as DeepSeek-V3's release has one (num_nextn_predict_layers; default ${DEFAULT-VALUE})")
    int mtpLayers;

    @Option(names = "--predictable", description = "instead of random: a model with one MTP layer whose next token is"
            + " a known successor of the last, its MTP drafts agreeing with the main model after this fraction (0-1)"
            + " of the tokens, to measure speculative decoding at a chosen acceptance rate")
    Double predictable;

    @Override
    public Integer call() throws Exception {
        Preset p = Preset.fromCli(preset);
        if (Files.exists(out.resolve("config.json"))) {
            throw new IllegalArgumentException(out + " already holds a model (config.json); choose another --out");
        }
        if (predictable != null && (fp8 || mtpLayers > 1)) {
            throw new IllegalArgumentException("--predictable writes bf16 weights and one MTP layer: leave out --fp8"
                    + " and --mtp-layers above 1");
        }
        if (ue8m0 && !fp8) throw new IllegalArgumentException("--ue8m0 describes FP8 block scales: add --fp8");
        long start = System.nanoTime();
        if (predictable != null) {
            PredictableCheckpoint.write(out, p, seed, predictable);
        } else if (ue8m0) {
            RandomCheckpoint.writeUe8m0(out, p, seed, mtpLayers);
        } else {
            RandomCheckpoint.write(out, p, seed, fp8, mtpLayers);
        }
        System.out.printf("wrote %s%s%s to %s in %.1f s%n", p.cliName(), ue8m0 ? " (fp8, ue8m0 scales)" : fp8 ? " (fp8)" : "",
                predictable != null ? " (predictable, drafts agreeing after " + predictable + " of the tokens)"
                        : mtpLayers > 0 ? " with " + mtpLayers + " MTP layer(s)" : "", out,
                (System.nanoTime() - start) / 1e9);
        return 0;
    }
}
