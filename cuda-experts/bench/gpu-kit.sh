#!/usr/bin/env bash
# Packs what the CUDA backend's tests and benchmarks need into one folder, for a GPU machine that has an NVIDIA
# driver but no JDK, no Maven and no network: a jlinked JDK, cuda-experts' classes, test classes and runtime jars,
# JUnit's console launcher, bench/torch_reference.py, and run.sh, which runs them all there.
#
#   cuda-experts/bench/gpu-kit.sh KIT_DIR        # here: builds the module, writes KIT_DIR (about 110 MB)
#   KIT_DIR/run.sh                               # there: tests, then CudaExpertsBench, PyTorch's reference when
#                                                # python3 has torch, and CudaEngineBench; output in $OUT (KIT_DIR/out)
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 KIT_DIR" >&2; exit 2; }
root="$(cd "$(dirname "$0")/../.." && pwd)"
. "$root/.mvn/find-jdk.sh"
kit="$(mkdir -p "$1" && cd "$1" && pwd)"
rm -rf "$kit/jdk" "$kit/classes" "$kit/test-classes" "$kit/lib" "$kit/junit"

(cd "$root" && ./mvnw -B -q package -DskipTests -pl cuda-experts -am)
module="$root/cuda-experts"
cp -r "$module/target/classes" "$module/target/test-classes" "$module/target/lib" "$kit/"
cp "$module/bench/torch_reference.py" "$kit/"
# the JUnit Platform version the module's tests compile against, so the console launcher runs the same engine
junit=$(cd "$root" && ./mvnw -B -q dependency:build-classpath -pl cuda-experts -am -Dmdep.includeScope=test \
  -Dmdep.outputFile=/dev/stdout | tr ':' '\n' | sed -n 's|.*/junit-platform-launcher-\([^/]*\)\.jar$|\1|p' | head -1)
(cd "$root" && ./mvnw -B -q dependency:copy -Dartifact="org.junit.platform:junit-platform-console-standalone:$junit" \
  -DoutputDirectory="$kit/junit")
# a runtime with the modules the engine, Jackson and JCuda load; no debug symbols, compressed
"$JAVA_HOME/bin/jlink" --add-modules java.base,java.logging,java.management,java.naming,java.sql,java.xml,java.desktop,jdk.incubator.vector,jdk.unsupported,java.instrument \
  --strip-debug --no-man-pages --no-header-files --compress=zip-9 --output "$kit/jdk" 2>/dev/null

cat > "$kit/run.sh" <<'EOF'
#!/usr/bin/env bash
# The CUDA backend's tests and benchmarks on this machine's GPU 0 (made by cuda-experts/bench/gpu-kit.sh).
set -uo pipefail
kit="$(cd "$(dirname "$0")" && pwd)"
out="${OUT:-$kit/out}"
mkdir -p "$out"
java="$kit/jdk/bin/java"
cp="$kit/classes:$kit/test-classes:$kit/lib/*"
opts=(--add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Djdk.incubator.vector.VECTOR_ACCESS_OOB_CHECK=0)
{ date -u; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv; "$java" -version 2>&1 | head -1; } \
  2>&1 | tee "$out/env.txt"
"$java" "${opts[@]}" -Xmx16g -cp "$cp:$(ls "$kit"/junit/*.jar)" org.junit.platform.console.ConsoleLauncher execute \
  --select-package dev.moemesh.cuda --details summary --disable-banner 2>&1 | tee "$out/tests.txt"
tests=${PIPESTATUS[0]}
"$java" "${opts[@]}" -Xmx40g -cp "$cp" dev.moemesh.cuda.CudaExpertsBench 2>&1 | tee "$out/java.jsonl"
if python3 -c 'import torch' 2>/dev/null; then
  python3 "$kit/torch_reference.py" | tee "$out/torch.jsonl"
  python3 "$kit/torch_reference.py" --compare "$out/java.jsonl" "$out/torch.jsonl" | tee "$out/compare.txt"
fi
"$java" "${opts[@]}" -Xmx60g -cp "$cp" dev.moemesh.cuda.CudaEngineBench "${BENCH_MODEL:-/tmp/moemesh-bench}" 3 2>&1 \
  | tee "$out/engine.jsonl"
exit "$tests"
EOF
chmod +x "$kit/run.sh"
du -sh "$kit"
