# Stage 3b: anti-roughing. A "<style>_normalised" style of evaluation.styles is the style's
# sketches brought toward the training style (normalise.reference, measured on the test set's
# train-split sketches, never its test images) by sketchback.sketches.normalise; same names and photos.


rule normalise:
    input:
        sketches="results/sketches/{dataset}/{style}/{split}/{shard}.npz",
        reference=lambda wc: (
            f"results/sketches/{wc.dataset}/{config['normalise']['reference']}/train/000.npz"
        ),
    output:
        "results/sketches/{dataset}/{style}_normalised/{split}/{shard}.npz",
    log:
        "results/logs/normalise/{dataset}/{style}/{split}/{shard}.log",
    benchmark:
        "results/benchmarks/normalise/{dataset}/{style}/{split}/{shard}.tsv"
    wildcard_constraints:
        style=normalisable_styles_regex(),
    threads: 1
    params:
        normaliser=normaliser_params(config),
        reference_images=config["normalise"]["reference_images"],
    script:
        "../scripts/normalise.py"


rule normalise_effect:
    input:
        raw=[
            f"results/evaluation/{model}/{dataset}/{base_style(style)}/metrics.csv"
            for model, dataset, style in normalised_evaluations()
        ],
        normalised=[
            f"results/evaluation/{model}/{dataset}/{style}/metrics.csv"
            for model, dataset, style in normalised_evaluations()
        ],
    output:
        report(
            "results/report/normalise_effect.csv",
            caption="../report/normalise_effect.rst",
            category="5 Cross-style",
        ),
    log:
        "results/logs/report/normalise_effect.log",
    benchmark:
        "results/benchmarks/report/normalise_effect.tsv"
    params:
        seed=config["seed"],
    script:
        "../scripts/normalise_effect.py"
