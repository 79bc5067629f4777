package dev.moemesh.bench;

import dev.moemesh.core.model.LatentKvCache;
import dev.moemesh.core.model.Model;
import dev.moemesh.core.model.StepRows;
import dev.moemesh.core.model.Workspace;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

import java.nio.file.Path;
import java.util.SplittableRandom;

/**
 * One MLA layer (projections, absorbed attention over the latent cache, output projection) for {@code rows}
 * sequences decoding one token each at position {@code context - 1}.
 */
@State(Scope.Benchmark)
public class MlaAttention {
    @Param({"1", "8", "32"})
    public int rows;

    @Param({"256", "1024"})
    public int context;

    Path dir;
    Model model;
    LatentKvCache cache;
    StepRows step;
    Workspace ws = new Workspace();
    float[] x;
    float[] out;

    @Setup
    public void setUp() {
        dir = BenchCheckpoint.write(false);
        model = Model.load(dir, 0);
        int blockTokens = 16;
        cache = model.newCache(blockTokens, rows * (context / blockTokens + 1));
        int[] tokens = new int[rows];
        int[] positions = new int[rows];
        LatentKvCache.Sequence[] seqs = new LatentKvCache.Sequence[rows];
        for (int r = 0; r < rows; r++) {
            seqs[r] = cache.newSequence();
            cache.reserve(seqs[r], context);
            positions[r] = context - 1;
        }
        step = new StepRows(tokens, positions, seqs, rows, model.rope(), model.config().qkRopeHeadDim());
        int hidden = model.config().hiddenSize();
        x = RandomWeights.floats(rows * hidden, new SplittableRandom(5));
        out = new float[rows * hidden];
    }

    @TearDown
    public void tearDown() {
        BenchCheckpoint.delete(dir);
    }

    @Benchmark
    public float[] forward() {
        model.block(1).attention().forward(step, x, out, cache, 1, ws);
        return out;
    }

    /** Projections plus, per head, the latent scores and weighted sum over the context and the absorb/un-absorb products. */
    static long flops(int rows, int context) {
        long hidden = 1024, qLora = 384, heads = 8, nope = 64, rope = 32, v = 64, kvLora = 256;
        long projections = qLora * hidden + heads * (nope + rope) * qLora + (kvLora + rope) * hidden + hidden * heads * v;
        long absorb = heads * (nope * kvLora + kvLora * v);
        long attend = heads * context * (2 * kvLora + rope);
        return 2 * rows * (projections + absorb + attend);
    }
}
