# Stage 2: deterministic split, then crop/resize into shards; mean training photo per dataset.


rule split:
    input:
        "resources/{dataset}/manifest.csv",
    output:
        "results/prepared/{dataset}/index.csv",
    params:
        fractions=lambda wc: config["datasets"][wc.dataset]["split"],
        shards=lambda wc: config["datasets"][wc.dataset]["shards"],
        seed=config["seed"],
    log:
        "results/logs/split/{dataset}.log",
    script:
        "../scripts/split.py"


rule prepare:
    input:
        index="results/prepared/{dataset}/index.csv",
        manifest="resources/{dataset}/manifest.csv",
    output:
        "results/prepared/{dataset}/{split}/{shard}.npz",
    params:
        size=config["image_size"],
        crop=lambda wc: config["datasets"][wc.dataset].get("crop"),
    log:
        "results/logs/prepare/{dataset}/{split}/{shard}.log",
    script:
        "../scripts/prepare.py"


rule mean_image:
    input:
        lambda wc: photo_shards(wc.dataset, "train"),
    output:
        "results/prepared/{dataset}/mean_train.npy",
    log:
        "results/logs/mean_image/{dataset}.log",
    script:
        "../scripts/mean_image.py"
