# Stage 10 (ablation: in the config): variants of a model (baseline, adversarial, multi-style) on
# the same test images: a table of paired differences to the baseline with bootstrap intervals
# (with the super-resolution stage's rows for the baseline) and a figure; with replicates
# (models.<name>.replicates) each difference's spread across training seeds.
localrules:
    ablation_table,


rule ablation_table:
    input:
        metrics=ablation_metrics(),
        distributions=beside(ablation_metrics(), "distribution.csv"),
        superres=ablation_superres(),
        # the variants' training-seed replicates, for the spread of each difference across seeds
        replicates=ablation_replicate_metrics(),
    output:
        table=report(
            "results/report/ablation.csv",
            caption="../report/ablation_table.rst",
            category="8 Ablation",
        ),
        markdown="results/report/ablation.md",
    log:
        "results/logs/report/ablation_table.log",
    benchmark:
        "results/benchmarks/report/ablation_table.tsv"
    params:
        variants=(
            list(ablation_variants(config["ablation"])) if config["ablation"] else []
        ),
        styles=config["ablation"]["styles"] if config["ablation"] else [],
        seed=config["seed"],
        runs=ablation_seed_runs(),
    script:
        "../scripts/ablation_table.py"


rule ablation_figure:
    input:
        unpack(ablation_figure_inputs),
    output:
        report(
            "results/report/ablation.png",
            caption="../report/ablation_figure.rst",
            category="8 Ablation",
        ),
    log:
        "results/logs/report/ablation_figure.log",
    benchmark:
        "results/benchmarks/report/ablation_figure.tsv"
    params:
        variants=lambda wc: list(ablation_variants(config["ablation"])),
        styles=lambda wc: config["ablation"]["styles"],
        test_set=lambda wc: config["ablation"]["test_set"],
        rows=lambda wc: config["ablation"]["rows"],
        width=config["evaluation"]["poster"]["width"],
        dpi=config["evaluation"]["poster"]["dpi"],
    script:
        "../scripts/ablation_figure.py"
