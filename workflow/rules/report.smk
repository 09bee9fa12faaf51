# Stage 8: the study's summary: metrics table, SSIM chart and loss curves for `snakemake --report`.


rule summarize:
    input:
        [
            f"results/evaluation/{model}/{dataset}/{method}/metrics.csv"
            for model, dataset, method in evaluations()
        ],
    output:
        report(
            "results/report/metrics_summary.csv",
            caption="../report/metrics.rst",
            category="Metrics",
        ),
    params:
        seed=config["seed"],
    log:
        "results/logs/report/summarize.log",
    script:
        "../scripts/summarize.py"


rule ssim_chart:
    input:
        "results/report/metrics_summary.csv",
    output:
        report(
            "results/report/ssim.png", caption="../report/ssim.rst", category="Metrics"
        ),
    log:
        "results/logs/report/ssim_chart.log",
    script:
        "../scripts/ssim_chart.py"


rule loss_curves:
    input:
        expand("results/models/{model}/history.csv", model=config["models"]),
    output:
        report(
            "results/report/loss_curves.png",
            caption="../report/loss_curves.rst",
            category="Training",
        ),
    params:
        models=list(config["models"]),
    log:
        "results/logs/report/loss_curves.log",
    script:
        "../scripts/loss_curves.py"
