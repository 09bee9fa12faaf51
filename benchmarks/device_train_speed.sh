#!/usr/bin/env bash
# Training throughput on a lent GPU machine (no TensorFlow there): Keras 3 on JAX, then PyTorch.
# Uses keras as installed, or the wheels in .whl/ (keras, namex, optree: see the README's training section);
# writes one log per run under $OUT (or ./device-logs). Each run is capped so the whole script ends
# within about 7 minutes.
set -u
out=${OUT:-device-logs}
mkdir -p "$out"
if compgen -G ".whl/*.whl" >/dev/null; then  # a machine that cannot fetch packages: carried wheels
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site
fi
python3 -c "import keras" || { echo "keras is missing: pip install keras, or put its wheels in .whl/ (README)"; exit 1; }
export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}src PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
study=${STUDY_ARGS:-"--size 128 --filters 32 --blocks 5 --steps 20 --rounds 3"}
run() {  # name, seconds, backend, arguments
    local name=$1 limit=$2 backend=$3
    shift 3
    echo "== $name: KERAS_BACKEND=$backend $*"
    KERAS_BACKEND=$backend timeout "$limit" python3 benchmarks/train_speed.py "$@" >"$out/$name.log" 2>&1
    echo "exit $?"
    grep -E "px, batch|FLOPs per image|matmul|img/s|ms\)|decode|wait for" "$out/$name.log"
}
run jax-b32 140 jax $study --batch 32
run jax-b32-mixed 120 jax $study --batch 32 --mixed-precision
run jax-b64 110 jax $study --batch 64
run torch-b32 90 torch $study --batch 32
