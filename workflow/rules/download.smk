# Stage 1: raw data into resources/{dataset}/ (local: cluster nodes often have no internet).


localrules:
    download,


rule download:
    output:
        "resources/{dataset}/manifest.csv",
    params:
        source=lambda wc: config["datasets"][wc.dataset]["source"],
        seed=config["seed"],
    log:
        "results/logs/download/{dataset}.log",
    script:
        "../scripts/download.py"
