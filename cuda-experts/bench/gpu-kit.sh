#!/usr/bin/env bash
# Packs what the CUDA backend's tests and benchmarks need into one folder, for a GPU machine that has an NVIDIA
# driver but no JDK, no Maven and no network: a jlinked JDK, cuda-experts' classes, test classes and the runtime jars
# they load (not the tokenizer's or the chat template's), kernel-benchmarks' jar, JUnit's console launcher,
# bench/torch_reference.py, and run.sh, which runs them there.
#
#   cuda-experts/bench/gpu-kit.sh KIT_DIR        # here: builds the modules, writes KIT_DIR (under the 64 MiB a
#                                                # device call carries: name it in .git/info/exclude and in carry)
#   KIT_DIR/run.sh [all|tests|bench|proof]       # there; output in $OUT (KIT_DIR/out). tests: the module's tests;
#                                                # bench: CudaExpertsBench, PyTorch's reference when python3 has
#                                                # torch, CudaEngineBench; all (the default): both; proof: the two
#                                                # figures this VM cannot show (docs/benchmarks.md, "What a bigger
#                                                # machine would show"): FP8 kept against bf16 at batch 1 on the
#                                                # machine's CPU cores, and speculative decoding with GPU experts
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 KIT_DIR" >&2; exit 2; }
root="$(cd "$(dirname "$0")/../.." && pwd)"
. "$root/.mvn/find-jdk.sh"
kit="$(mkdir -p "$1" && cd "$1" && pwd)"
rm -rf "$kit/jdk" "$kit/classes" "$kit/test-classes" "$kit/lib" "$kit/junit" "$kit/bench"

(cd "$root" && ./mvnw -B -q package -DskipTests -Dfuzz.skip=true -pl cuda-experts,kernel-benchmarks -am)
module="$root/cuda-experts"
cp -r "$module/target/classes" "$module/target/test-classes" "$kit/"
# of the runtime jars, those the engine's weights, JSON and JCuda need: the tokenizer's native library and the chat
# template's engine (40 MB with their dependencies) stay behind, so the kit fits the 64 MiB a device call carries
mkdir -p "$kit/lib"
for jar in core jackson-core jackson-databind jackson-annotations jcuda jcuda-natives; do
  cp "$module"/target/lib/"$jar"-[0-9]*.jar "$kit/lib/"
done
# the backend calls the driver API alone: JCuda's PTX compiler and NVRTC bindings (8 MB) stay behind too
if command -v zip >/dev/null; then zip -q -d "$kit"/lib/jcuda-natives-*.jar 'lib/libJNvPTXCompiler*' 'lib/libJNvrtc*'; fi
mkdir -p "$kit/bench" && cp "$root"/kernel-benchmarks/target/kernel-benchmarks-*.jar "$kit/bench/kernel-benchmarks.jar"
cp "$module/bench/torch_reference.py" "$kit/"
# the JUnit Platform version the module's tests compile against, so the console launcher runs the same engine
junit=$(cd "$root" && ./mvnw -B -q dependency:build-classpath -pl cuda-experts -am -Dmdep.includeScope=test \
  -Dmdep.outputFile=/dev/stdout | tr ':' '\n' | sed -n 's|.*/junit-platform-launcher-\([^/]*\)\.jar$|\1|p' | head -1)
(cd "$root" && ./mvnw -B -q dependency:copy -Dartifact="org.junit.platform:junit-platform-console-standalone:$junit" \
  -DoutputDirectory="$kit/junit")
# a runtime with the modules the engine, Jackson and JCuda load; no debug symbols, compressed
"$JAVA_HOME/bin/jlink" --add-modules java.base,java.logging,java.management,jdk.management,java.naming,java.sql,java.xml,jdk.incubator.vector,jdk.unsupported,java.instrument \
  --strip-java-debug-attributes --strip-native-debug-symbols=exclude-debuginfo-files --no-man-pages --no-header-files \
  --compress=zip-9 --output "$kit/jdk"
if command -v strip >/dev/null; then strip --strip-unneeded "$kit/jdk/lib/server/libjvm.so"; fi # 5 MB of symbols

cat > "$kit/run.sh" <<'EOF'
#!/usr/bin/env bash
# The CUDA backend's tests and benchmarks on this machine's GPU 0 (made by cuda-experts/bench/gpu-kit.sh).
# run.sh [all|tests|bench|proof]; checkpoints are written under $MODELS (/tmp) when missing.
set -uo pipefail
stage="${1:-all}"
kit="$(cd "$(dirname "$0")" && pwd)"
out="${OUT:-$kit/out}"
models="${MODELS:-/tmp}"
mkdir -p "$out"
java="$kit/jdk/bin/java"
cp="$kit/classes:$kit/test-classes:$kit/lib/*"
opts=(--add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Djdk.incubator.vector.VECTOR_ACCESS_OOB_CHECK=0)
{ date -u; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv; echo "cpus $(nproc)"; "$java" -version 2>&1 | head -1; } \
  2>&1 | tee "$out/env.txt"
tests=0 failed=0
if [ "$stage" = all ] || [ "$stage" = tests ]; then
  "$java" "${opts[@]}" -Xmx16g -cp "$cp:$(ls "$kit"/junit/*.jar)" org.junit.platform.console.ConsoleLauncher execute \
    --select-package dev.moemesh.cuda --details summary --disable-banner 2>&1 | tee "$out/tests.txt"
  tests=${PIPESTATUS[0]}
fi
if [ "$stage" = all ] || [ "$stage" = bench ]; then
  "$java" "${opts[@]}" -Xmx40g -cp "$cp" dev.moemesh.cuda.CudaExpertsBench 2>&1 | tee "$out/java.jsonl"
  if python3 -c 'import torch' 2>/dev/null; then
    python3 "$kit/torch_reference.py" | tee "$out/torch.jsonl"
    python3 "$kit/torch_reference.py" --compare "$out/java.jsonl" "$out/torch.jsonl" | tee "$out/compare.txt"
  fi
  "$java" "${opts[@]}" -Xmx60g -cp "$cp" dev.moemesh.cuda.CudaEngineBench "${BENCH_MODEL:-$models/moemesh-bench}" 3 2>&1 \
    | tee "$out/engine.jsonl"
fi
if [ "$stage" = proof ]; then
  # issue 14: an FP8 checkpoint kept FP8 against the same one rounded to bf16, batch 1 and 8, on all CPU cores and
  # on a quarter of them (builds 2 and 3: whether a batch-1 step is bound by memory or by the threads' hand-offs)
  "$java" "${opts[@]}" -cp "$kit/bench/kernel-benchmarks.jar:$kit/lib/*" dev.moemesh.bench.WriteCheckpoint bench \
    "$models/moemesh-bench-ue8m0" ue8m0 2>&1 | tee "$out/fp8.txt"
  few=$(( $(nproc) / 4 > 0 ? $(nproc) / 4 : 1 ))
  "$java" "${opts[@]}" -Xmx40g -Dcompare.figures=decode:1,decode:8 -Dcompare.decode-tokens=32 \
    -cp "$kit/bench/kernel-benchmarks.jar" dev.moemesh.bench.EngineComparison 3 \
    "$kit/lib@$models/moemesh-bench-ue8m0@bf16" "$kit/lib@$models/moemesh-bench-ue8m0@fp8" \
    "$kit/lib@$models/moemesh-bench-ue8m0@bf16@moemesh.threads=$few" \
    "$kit/lib@$models/moemesh-bench-ue8m0@fp8@moemesh.threads=$few" 2>&1 | tee -a "$out/fp8.txt"
  [ "${PIPESTATUS[0]}" = 0 ] || failed=1
  # issue 17: speculative decoding with the routed experts on the GPU, drafts accepted at about 85 %
  "$java" "${opts[@]}" -Xmx40g -cp "$cp" dev.moemesh.cuda.CudaSpeculativeBench "$models/moemesh-pred85" 0.85 3 2>&1 \
    | tee "$out/speculative.jsonl"
  [ "${PIPESTATUS[0]}" = 0 ] || failed=1
fi
[ "$tests" = 0 ] && [ "$failed" = 0 ] # the exit status: every test and every proof figure ran
EOF
chmod +x "$kit/run.sh"
du -sh "$kit"
