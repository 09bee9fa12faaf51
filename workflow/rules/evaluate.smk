# Stage 7: every model on each of its test sets in every sketch style of evaluation.styles (the
# style it was trained on and the others): per-image PSNR, SSIM and VGG feature distance, a grid,
# and the set's FID and KID (distribution.csv) on the features of evaluation.fid_network.
# evaluation.batch_size is read at run time (it changes the numbers in the last bits at most).


rule evaluate:
    input:
        model="results/models/{model}/generator.keras",
        mean="results/prepared/{dataset}/mean_train.npy",
        photos=lambda wc: [photo for photo, _ in pairs(wc.dataset, wc.method, "test")],
        sketches=lambda wc: [
            sketch for _, sketch in pairs(wc.dataset, wc.method, "test")
        ],
        weights=metric_weights,
        fid_graph=fid_graph,
    output:
        metrics="results/evaluation/{model}/{dataset}/{method}/metrics.csv",
        distribution="results/evaluation/{model}/{dataset}/{method}/distribution.csv",
        grid=report(
            "results/evaluation/{model}/{dataset}/{method}/grid.png",
            caption="../report/grid.rst",
            category="4 Evaluation",
            subcategory="{model} model: grids per test set and style",
            labels={"model": "{model}", "test set": "{dataset}", "sketch": "{method}"},
        ),
    log:
        "results/logs/evaluate/{model}/{dataset}/{method}.log",
    benchmark:
        "results/benchmarks/evaluate/{model}/{dataset}/{method}.tsv"
    threads: config["evaluation"]["threads"]
    params:
        grid_rows=config["evaluation"]["grid_rows"],
        vgg_weights=config["training"]["vgg_weights"],
        vgg_md5=config["training"]["vgg_md5"],
        seed=config["seed"],
        fid_network=config["evaluation"]["fid_network"],
        kid_subsets=config["evaluation"]["kid_subsets"],
        kid_subset_size=config["evaluation"]["kid_subset_size"],
    script:
        "../scripts/evaluate.py"


# A model with colour hints (models.<name>.hints) also meets each test set and style with each count
# of evaluation.hint_strokes, the strokes drawn from the test photos as in training (seeded by dataset
# row). One job per style runs every count; hints_0 is the evaluation above (no hints).
rule evaluate_hints:
    input:
        model="results/models/{model}/generator.keras",
        mean="results/prepared/{dataset}/mean_train.npy",
        photos=lambda wc: [photo for photo, _ in pairs(wc.dataset, wc.method, "test")],
        sketches=lambda wc: [
            sketch for _, sketch in pairs(wc.dataset, wc.method, "test")
        ],
        weights=metric_weights,
        fid_graph=fid_graph,
    output:
        metrics=expand(
            "results/evaluation/{{model}}/{{dataset}}/{{method}}/hints_{n}/metrics.csv",
            n=config["evaluation"]["hint_strokes"],
        ),
        distributions=expand(
            "results/evaluation/{{model}}/{{dataset}}/{{method}}/hints_{n}/distribution.csv",
            n=config["evaluation"]["hint_strokes"],
        ),
        grids=expand(
            "results/evaluation/{{model}}/{{dataset}}/{{method}}/hints_{n}/grid.png",
            n=config["evaluation"]["hint_strokes"],
        ),
    log:
        "results/logs/evaluate_hints/{model}/{dataset}/{method}.log",
    benchmark:
        "results/benchmarks/evaluate_hints/{model}/{dataset}/{method}.tsv"
    threads: config["evaluation"]["threads"]
    params:
        counts=config["evaluation"]["hint_strokes"],
        hint_params=lambda wc: config["models"][wc.model]["hints"],
        grid_rows=config["evaluation"]["grid_rows"],
        vgg_weights=config["training"]["vgg_weights"],
        vgg_md5=config["training"]["vgg_md5"],
        seed=config["seed"],
        fid_network=config["evaluation"]["fid_network"],
        kid_subsets=config["evaluation"]["kid_subsets"],
        kid_subset_size=config["evaluation"]["kid_subset_size"],
    script:
        "../scripts/evaluate_hints.py"
