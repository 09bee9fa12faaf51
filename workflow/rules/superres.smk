# Stage 9 (superres: in the config): a small upsampler trained on the study's own photos, applied
# to each model's predictions and to the test photos, next to bicubic upscaling of the same images,
# both scored against the photos prepared again at superres.factor x image_size from the raw files.


localrules:
    superres_summary,


rule superres_prepare:
    input:
        photos="results/prepared/{dataset}/{split}/{shard}.npz",
        index="results/prepared/{dataset}/index.csv",
        manifest="resources/{dataset}/manifest.csv",
    output:
        "results/superres/prepared/{dataset}/{split}/{shard}.npz",
    log:
        "results/logs/superres/prepare/{dataset}/{split}/{shard}.log",
    benchmark:
        "results/benchmarks/superres/prepare/{dataset}/{split}/{shard}.tsv"
    params:
        size=config["image_size"] * config["superres"]["factor"],
        crop=lambda wc: config["datasets"][wc.dataset]["crop"],
    script:
        "../scripts/superres_prepare.py"


rule superres_train:
    input:
        unpack(superres_train_inputs),
    output:
        model="results/superres/upsampler.keras",
        history="results/superres/history.csv",
    log:
        "results/logs/superres/train.log",
    benchmark:
        "results/benchmarks/superres/train.tsv"
    threads: config["training"]["threads"]
    params:
        options=SuperresOptions.from_config(config).as_params(),
        datasets=superres_datasets(config),
    script:
        "../scripts/superres_train.py"


rule superres_evaluate:
    input:
        unpack(superres_evaluate_inputs),
    output:
        metrics="results/superres/evaluation/{dataset}/metrics.csv",
        examples=report(
            "results/superres/evaluation/{dataset}/examples.png",
            caption="../report/superres_examples.rst",
            category="6 Super-resolution",
            labels={"test set": "{dataset}"},
        ),
    log:
        "results/logs/superres/evaluate/{dataset}.log",
    benchmark:
        "results/benchmarks/superres/evaluate/{dataset}.tsv"
    threads: config["evaluation"]["threads"]
    params:
        methods=lambda wc: {
            model: superres_style(config, model)
            for model in superres_test_models(config, wc.dataset)
        },
        factor=config["superres"]["factor"],
        rows=config["superres"]["figure_rows"],
        vgg_weights=config["training"]["vgg_weights"],
        vgg_md5=config["training"]["vgg_md5"],
        seed=config["seed"],
    script:
        "../scripts/superres_evaluate.py"


rule superres_summary:
    input:
        expand(
            "results/superres/evaluation/{dataset}/metrics.csv",
            dataset=superres_test_sets(config),
        ),
    output:
        table=report(
            "results/report/superres_summary.csv",
            caption="../report/superres_summary.rst",
            category="6 Super-resolution",
        ),
        chart=report(
            "results/report/superres.png",
            caption="../report/superres.rst",
            category="6 Super-resolution",
        ),
    log:
        "results/logs/superres/summary.log",
    benchmark:
        "results/benchmarks/superres/summary.tsv"
    params:
        seed=config["seed"],
    script:
        "../scripts/superres_summary.py"
