#!/usr/bin/env bash
# One command for a machine with an NVIDIA GPU: builds lmlab with CUDA
# (LMLAB_CUDA=1) in its own build tree, then, with every layer offloaded,
#   1. the runtime tests (generation, logprobs, activation capture from device
#      buffers, embeddings) and the probe's capture tests,
#   2. the generation benchmark against llama-bench on the same GPU,
# and prints a summary. Meant to finish in under 10 minutes on a 16-core
# machine (the CUDA kernels are built for this GPU's architecture only).
#
#   scripts/gpu-check.sh                 # build-cuda/, all layers on GPU 0
#   LMLAB_GPU_CHECK_BUILD=/tmp/b scripts/gpu-check.sh
#
# Exit status: 0 all passed; 1 a test or the benchmark failed; 2 this machine
# cannot run the check (no CUDA toolkit, no GPU), said in one line.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
build="${LMLAB_GPU_CHECK_BUILD:-$root/build-cuda}"
llama_src="${LMLAB_LLAMA_SOURCE:-$root/build/_deps/llama.cpp}"
jobs="$(nproc)"
say() { printf '\033[1m[gpu-check]\033[0m %s\n' "$*"; }
cannot() { echo "gpu-check: cannot run here: $*" >&2; exit 2; }

# ---------------------------------------------------------------- machine --
nvcc="$(command -v nvcc || true)"
[[ -z "$nvcc" && -x /usr/local/cuda/bin/nvcc ]] && nvcc=/usr/local/cuda/bin/nvcc
[[ -n "$nvcc" ]] || cannot "no CUDA toolkit (nvcc is not on PATH nor in /usr/local/cuda/bin); install the CUDA toolkit"
command -v nvidia-smi >/dev/null || cannot "nvidia-smi not found: no NVIDIA driver on this machine"
gpus="$(nvidia-smi --query-gpu=name,memory.total,compute_cap --format=csv,noheader 2>/dev/null || true)"
[[ -n "$gpus" ]] || cannot "nvidia-smi lists no GPU"
[[ -f "$llama_src/CMakeLists.txt" ]] || cannot "no llama.cpp source at $llama_src (run scripts/setup.sh once, or set LMLAB_LLAMA_SOURCE)"
say "GPU: $(echo "$gpus" | head -1)   CUDA: $("$nvcc" --version | tail -1)"
export PATH="$(dirname "$nvcc"):$PATH"

# ------------------------------------------------------------------ build --
start=$(date +%s)
say "configuring $build (CUDA, this GPU's architecture only)"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DLMLAB_CUDA=ON \
  -DCMAKE_CUDA_ARCHITECTURES=native -DLMLAB_LLAMA_SOURCE="$llama_src" >/dev/null
say "building (${jobs} jobs)"
cmake --build "$build" -j "$jobs" --target runtime_test probe_test lmlab_cli runtime_generation_bench llama-bench \
  >"$build/gpu-check-build.log" 2>&1 || { tail -30 "$build/gpu-check-build.log"; echo "gpu-check: the CUDA build failed" >&2; exit 1; }
say "built in $(( $(date +%s) - start )) s"

# ------------------------------------------------------------------ tests --
# Every model the tests open is offloaded whole (ModelSpec::n_gpu_layers
# defaults to $LMLAB_GPU_LAYERS); llama.cpp's log shows where the layers went.
export LMLAB_GPU_LAYERS=-1
failed=0
tiny="$build/gpu-check-tiny.gguf"
"$build/lmlab" model tiny "$tiny" --layers 4 --embd 256 --ff 768 >/dev/null
offload="$(LMLAB_LLAMA_LOG=1 "$build/lmlab" model generate --model "$tiny" --max-tokens 4 "Hello" 2>&1 >/dev/null | grep -i 'offloaded' || true)"
say "offload: ${offload:-llama.cpp did not report offloading}"
echo "$offload" | grep -q 'offloaded 5/5 layers to GPU' || { echo "gpu-check: the model was not offloaded to the GPU" >&2; failed=1; }

run_tests() {  # binary filter label
  say "$3"
  if ! (cd "$build" && "$build/tests/$1" --gtest_filter="$2" --gtest_brief=1); then failed=1; fi
}
run_tests runtime_test 'LlamaModel.*:Activations.*:TinyModel.*' "runtime: generation, logprobs, embeddings, captures"
run_tests probe_test 'ActivationCache.*:MlpCache.*:Mlp.*:Neurons.*:Pipeline.*' "probe: activation capture"

# -------------------------------------------------------------- benchmark --
say "generation: lmlab vs llama-bench on the GPU"
if ! "$build/bench/runtime_generation_bench" --gpu-layers -1 --tokens 128 --reps 5 | tee "$build/gpu-check-bench.txt"; then
  failed=1
fi

say "finished in $(( $(date +%s) - start )) s: $([[ $failed == 0 ]] && echo 'all passed' || echo 'FAILURES above')"
exit "$failed"
