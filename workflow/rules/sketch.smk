# Stage 3: simulated sketches per dataset x method x split x shard. Only this method's
# parameters are rule params, so changing one method reruns only its branch. Neural style
# sketches (method style) cover a subset of each shard and need VGG16 weights unless "random".


rule sketch:
    input:
        photos="results/prepared/{dataset}/{split}/{shard}.npz",
        weights=sketch_weights,
    output:
        "results/sketches/{dataset}/{method}/{split}/{shard}.npz",
    log:
        "results/logs/sketch/{dataset}/{method}/{split}/{shard}.log",
    benchmark:
        "results/benchmarks/sketch/{dataset}/{method}/{split}/{shard}.tsv"
    wildcard_constraints:
        # hand-drawn sketches come from rule handdrawn_sketches, <style>_normalised from rule normalise
        method="(?!handdrawn/)(?![A-Za-z0-9_]*_normalised/)[A-Za-z0-9_]+",
    threads: 1
    params:
        method_params=lambda wc: config["sketch"][wc.method],
        seed=config["seed"],
    script:
        "../scripts/sketch.py"
