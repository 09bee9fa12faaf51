# Stage 2: deterministic split, then crop/resize into shards (unusable images are skipped and
# listed next to their shard); mean training photo per dataset; the hand-drawn sketches of
# sources that have them (CUHK) as sketch shards aligned with the photo shards.


rule split:
    input:
        "resources/{dataset}/manifest.csv",
    output:
        "results/prepared/{dataset}/index.csv",
    log:
        "results/logs/split/{dataset}.log",
    benchmark:
        "results/benchmarks/split/{dataset}.tsv"
    params:
        fractions=lambda wc: config["datasets"][wc.dataset]["split"],
        shards=lambda wc: config["datasets"][wc.dataset]["shards"],
        seed=config["seed"],
    script:
        "../scripts/split.py"


rule prepare:
    input:
        index="results/prepared/{dataset}/index.csv",
        manifest="resources/{dataset}/manifest.csv",
    output:
        shard="results/prepared/{dataset}/{split}/{shard}.npz",
        rejected="results/prepared/{dataset}/{split}/{shard}.rejected.csv",
    log:
        "results/logs/prepare/{dataset}/{split}/{shard}.log",
    benchmark:
        "results/benchmarks/prepare/{dataset}/{split}/{shard}.tsv"
    params:
        size=config["image_size"],
        crop=lambda wc: config["datasets"][wc.dataset]["crop"],
        max_rejected=lambda wc: config["datasets"][wc.dataset]["max_rejected"],
    script:
        "../scripts/prepare.py"


rule mean_image:
    input:
        lambda wc: photo_shards(wc.dataset, "train"),
    output:
        "results/prepared/{dataset}/mean_train.npy",
    log:
        "results/logs/mean_image/{dataset}.log",
    benchmark:
        "results/benchmarks/mean_image/{dataset}.tsv"
    script:
        "../scripts/mean_image.py"


rule handdrawn_sketches:
    input:
        photos="results/prepared/{dataset}/{split}/{shard}.npz",
        manifest="resources/{dataset}/manifest.csv",
    output:
        "results/sketches/{dataset}/handdrawn/{split}/{shard}.npz",
    log:
        "results/logs/handdrawn/{dataset}/{split}/{shard}.log",
    benchmark:
        "results/benchmarks/handdrawn_sketches/{dataset}/{split}/{shard}.tsv"
    wildcard_constraints:
        dataset=handdrawn_datasets_regex(),
    params:
        size=config["image_size"],
        crop=lambda wc: config["datasets"][wc.dataset]["crop"],
    script:
        "../scripts/handdrawn.py"
