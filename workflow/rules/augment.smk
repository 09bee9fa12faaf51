# Stage 4: augmented (photo, sketch) pairs for datasets with an `augment:` block (the buildings);
# photo and sketch get the same geometric transform, so pairs stay aligned.


rule augment:
    input:
        photos="results/prepared/{dataset}/{split}/{shard}.npz",
        sketches="results/sketches/{dataset}/{method}/{split}/{shard}.npz",
    output:
        "results/augmented/{dataset}/{method}/{split}/{shard}.npz",
    log:
        "results/logs/augment/{dataset}/{method}/{split}/{shard}.log",
    benchmark:
        "results/benchmarks/augment/{dataset}/{method}/{split}/{shard}.tsv"
    params:
        copies=lambda wc: config["datasets"][wc.dataset]["augment"]["copies"],
        augment_params=lambda wc: config["datasets"][wc.dataset]["augment"]["params"],
        seed=config["seed"],
    script:
        "../scripts/augment.py"
