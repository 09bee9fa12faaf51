# Stage 3: simulated sketches per dataset x method x split x shard. Only this method's
# parameters are rule params, so changing one method reruns only its branch.


rule sketch:
    input:
        "results/prepared/{dataset}/{split}/{shard}.npz",
    output:
        "results/sketches/{dataset}/{method}/{split}/{shard}.npz",
    params:
        method_params=lambda wc: config["sketch"][wc.method],
    log:
        "results/logs/sketch/{dataset}/{method}/{split}/{shard}.log",
    benchmark:
        "results/benchmarks/sketch/{dataset}/{method}/{split}/{shard}.tsv"
    script:
        "../scripts/sketch.py"
