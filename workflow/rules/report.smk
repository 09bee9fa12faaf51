# Stage 8: the study's report, organised like a paper (snakemake --report): 1 Data, 2 Sketches,
# 3 Training, 4 Evaluation, 5 Cross-style, 7 Colour hints (models with models.<name>.hints).
# Categories are numbered because the report sorts them.


# Small and quick: run where Snakemake runs, not as cluster jobs.
localrules:
    summarize,
    ssim_chart,
    loss_curves,
    cross_style,
    data_overview,
    hint_table,


rule data_overview:
    input:
        index=expand("results/prepared/{dataset}/index.csv", dataset=study_datasets()),
        shards=expand(
            "results/prepared/{dataset}/train/000.npz", dataset=study_datasets()
        ),
    output:
        table=report(
            "results/report/data_summary.csv",
            caption="../report/data_summary.rst",
            category="1 Data",
        ),
        figure=report(
            "results/report/data.png", caption="../report/data.rst", category="1 Data"
        ),
    log:
        "results/logs/report/data_overview.log",
    benchmark:
        "results/benchmarks/report/data_overview.tsv"
    params:
        datasets=lambda wc: {
            name: {
                "source": config["datasets"][name]["source"]["name"],
                "index": f"results/prepared/{name}/index.csv",
                "shard": f"results/prepared/{name}/train/000.npz",
            }
            for name in study_datasets()
        },
        image_size=config["image_size"],
        dpi=config["evaluation"]["poster"]["dpi"],
    script:
        "../scripts/data_overview.py"


rule sketch_examples:
    input:
        unpack(style_inputs),
    output:
        report(
            "results/report/sketches/{dataset}.png",
            caption="../report/sketches.rst",
            category="2 Sketches",
            labels={"test set": "{dataset}"},
        ),
    log:
        "results/logs/report/sketches/{dataset}.log",
    benchmark:
        "results/benchmarks/report/sketch_examples/{dataset}.tsv"
    params:
        styles=lambda wc: evaluation_styles(config, wc.dataset),
        rows=config["evaluation"]["poster"]["rows"],
        width=config["evaluation"]["poster"]["width"],
        dpi=config["evaluation"]["poster"]["dpi"],
    script:
        "../scripts/sketch_examples.py"


rule loss_curves:
    input:
        # the trained models only: a released model has no training history
        expand("results/models/{model}/history.csv", model=trained_models(config)),
    output:
        report(
            "results/report/loss_curves.png",
            caption="../report/loss_curves.rst",
            category="3 Training",
        ),
    log:
        "results/logs/report/loss_curves.log",
    benchmark:
        "results/benchmarks/report/loss_curves.tsv"
    params:
        models=trained_models(config),
        subtitles={model: stage_description(model) for model in trained_models(config)},
        dpi=config["evaluation"]["poster"]["dpi"],
    script:
        "../scripts/loss_curves.py"


rule poster_grid:
    input:
        unpack(style_inputs),
        model="results/models/{model}/generator.keras",
    output:
        report(
            "results/report/poster/{model}/{dataset}.png",
            caption="../report/poster.rst",
            category="4 Evaluation",
            subcategory="Poster figures",
            labels={"model": "{model}", "test set": "{dataset}"},
        ),
    log:
        "results/logs/report/poster/{model}/{dataset}.log",
    benchmark:
        "results/benchmarks/report/poster_grid/{model}/{dataset}.tsv"
    params:
        styles=lambda wc: evaluation_styles(config, wc.dataset),
        trained=lambda wc: "+".join(config["models"][wc.model]["methods"]),
        rows=config["evaluation"]["poster"]["rows"],
        width=config["evaluation"]["poster"]["width"],
        dpi=config["evaluation"]["poster"]["dpi"],
    script:
        "../scripts/poster_grid.py"


rule summarize:
    input:
        metrics=evaluation_metrics(),
        distributions=beside(evaluation_metrics(), "distribution.csv"),
    output:
        report(
            "results/report/metrics_summary.csv",
            caption="../report/metrics.rst",
            category="4 Evaluation",
            subcategory="Metrics",
        ),
    log:
        "results/logs/report/summarize.log",
    benchmark:
        "results/benchmarks/report/summarize.tsv"
    params:
        seed=config["seed"],
    script:
        "../scripts/summarize.py"


rule ssim_chart:
    input:
        "results/report/metrics_summary.csv",
    output:
        report(
            "results/report/ssim.png",
            caption="../report/ssim.rst",
            category="4 Evaluation",
            subcategory="Metrics",
        ),
    log:
        "results/logs/report/ssim_chart.log",
    benchmark:
        "results/benchmarks/report/ssim_chart.tsv"
    script:
        "../scripts/ssim_chart.py"


rule cross_style:
    input:
        "results/report/metrics_summary.csv",
    output:
        table=report(
            "results/report/cross_style.csv",
            caption="../report/cross_style_table.rst",
            category="5 Cross-style",
        ),
        figure=report(
            "results/report/cross_style.png",
            caption="../report/cross_style.rst",
            category="5 Cross-style",
        ),
    log:
        "results/logs/report/cross_style.log",
    benchmark:
        "results/benchmarks/report/cross_style.tsv"
    params:
        training=training_specs(),
        styles=list(config["evaluation"]["styles"]),
        dpi=config["evaluation"]["poster"]["dpi"],
    script:
        "../scripts/cross_style.py"


rule hint_table:
    input:
        "results/report/metrics_summary.csv",
    output:
        report(
            "results/report/hints.csv",
            caption="../report/hint_table.rst",
            category="7 Colour hints",
        ),
    log:
        "results/logs/report/hint_table.log",
    benchmark:
        "results/benchmarks/report/hint_table.tsv"
    params:
        models=hint_models(config),
    script:
        "../scripts/hint_table.py"


rule hint_figure:
    input:
        model="results/models/{model}/generator.keras",
        photos=lambda wc: [photo for photo, _ in hint_figure_pairs(wc)],
        sketches=lambda wc: [sketch for _, sketch in hint_figure_pairs(wc)],
    output:
        report(
            "results/report/hints/{model}/{dataset}.png",
            caption="../report/hint_figure.rst",
            category="7 Colour hints",
            labels={"model": "{model}", "test set": "{dataset}"},
        ),
    log:
        "results/logs/report/hints/{model}/{dataset}.log",
    benchmark:
        "results/benchmarks/report/hint_figure/{model}/{dataset}.tsv"
    params:
        style=lambda wc: config["models"][wc.model]["methods"][0],
        counts=[0] + config["evaluation"]["hint_strokes"],
        hint_params=lambda wc: config["models"][wc.model]["hints"],
        seed=config["seed"],
        rows=config["evaluation"]["poster"]["rows"],
        width=config["evaluation"]["poster"]["width"],
        dpi=config["evaluation"]["poster"]["dpi"],
    script:
        "../scripts/hint_figure.py"
