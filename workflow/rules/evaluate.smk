# Stage 7: every model on each of its test sets in every sketch style of evaluation.styles (the
# style it was trained on and the others): per-image PSNR, SSIM and VGG feature distance, a grid,
# and the set's FID and KID (distribution.csv) on the features of evaluation.fid_network.
# evaluation.batch_size is read at run time (it changes the numbers in the last bits at most).


# evaluation.one_job_per: style (one job per model, test set and style: a cluster runs them side by
# side, and a changed style re-evaluates only itself) or test_set (one job per model and test set scores
# every style in turn: TensorFlow, the model and the networks start once, which is most of a small
# evaluation's cost on a CPU; the demo's choice). Both write the same files, with the same bytes.
if config["evaluation"]["one_job_per"] == "style":

    rule evaluate:
        input:
            model="results/models/{model}/generator.keras",
            mean="results/prepared/{dataset}/mean_train.npy",
            photos=lambda wc: [
                photo for photo, _ in pairs(wc.dataset, wc.method, "test")
            ],
            sketches=lambda wc: [
                sketch for _, sketch in pairs(wc.dataset, wc.method, "test")
            ],
            weights=metric_weights,
            fid_graph=fid_graph,
        output:
            metrics="results/evaluation/{model}/{dataset}/{method}/metrics.csv",
            distributions="results/evaluation/{model}/{dataset}/{method}/distribution.csv",
            grids=evaluation_grid("{method}"),
        log:
            "results/logs/evaluate/{model}/{dataset}/{method}.log",
        benchmark:
            "results/benchmarks/evaluate/{model}/{dataset}/{method}.tsv"
        threads: config["evaluation"]["threads"]
        params:
            **scoring_params(),
            styles=lambda wc: [wc.method],
        script:
            "../scripts/evaluate.py"

else:

    # rule evaluate for the test sets with simulated sketches only, evaluate_handdrawn for those whose
    # source ships hand-drawn ones (CUHK), in those styles as well.
    rule evaluate:
        input:
            model="results/models/{model}/generator.keras",
            mean="results/prepared/{dataset}/mean_train.npy",
            photos=test_shards(test_set_styles(False), photos=True),
            sketches=test_shards(test_set_styles(False), photos=False),
            weights=metric_weights,
            fid_graph=fid_graph,
        output:
            metrics=expand(
                "results/evaluation/{{model}}/{{dataset}}/{method}/metrics.csv",
                method=test_set_styles(False),
            ),
            distributions=expand(
                "results/evaluation/{{model}}/{{dataset}}/{method}/distribution.csv",
                method=test_set_styles(False),
            ),
            grids=evaluation_grids(test_set_styles(False)),
        log:
            "results/logs/evaluate/{model}/{dataset}.log",
        benchmark:
            "results/benchmarks/evaluate/{model}/{dataset}.tsv"
        wildcard_constraints:
            dataset=handdrawn_datasets_regex(False),
        threads: config["evaluation"]["threads"]
        params:
            **scoring_params(),
            styles=test_set_styles(False),
        script:
            "../scripts/evaluate.py"

    use rule evaluate as evaluate_handdrawn with:
        input:
            model="results/models/{model}/generator.keras",
            mean="results/prepared/{dataset}/mean_train.npy",
            photos=test_shards(test_set_styles(True), photos=True),
            sketches=test_shards(test_set_styles(True), photos=False),
            weights=metric_weights,
            fid_graph=fid_graph,
        output:
            metrics=expand(
                "results/evaluation/{{model}}/{{dataset}}/{method}/metrics.csv",
                method=test_set_styles(True),
            ),
            distributions=expand(
                "results/evaluation/{{model}}/{{dataset}}/{method}/distribution.csv",
                method=test_set_styles(True),
            ),
            grids=evaluation_grids(test_set_styles(True)),
        log:
            "results/logs/evaluate_handdrawn/{model}/{dataset}.log",
        benchmark:
            "results/benchmarks/evaluate_handdrawn/{model}/{dataset}.tsv"
        wildcard_constraints:
            dataset=handdrawn_datasets_regex(True),
        params:
            **scoring_params(),
            styles=test_set_styles(True),


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
        **scoring_params(),
        counts=config["evaluation"]["hint_strokes"],
        hint_params=lambda wc: config["models"][wc.model]["hints"],
    script:
        "../scripts/evaluate_hints.py"
