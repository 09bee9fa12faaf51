# Stage 7: every model on every test set and sketch style; per-image metrics and a grid.


rule evaluate:
    input:
        model="results/models/{model}/generator.keras",
        mean="results/prepared/{dataset}/mean_train.npy",
        shards=lambda wc: flatten(pairs(wc.dataset, wc.method, "test")),
    output:
        metrics="results/evaluation/{model}/{dataset}/{method}/metrics.csv",
        grid=report(
            "results/evaluation/{model}/{dataset}/{method}/grid.png",
            caption="../report/grid.rst",
            category="Evaluation grids",
            subcategory="{model} model",
            labels={"model": "{model}", "test set": "{dataset}", "sketch": "{method}"},
        ),
    params:
        test_pairs=lambda wc: pairs(wc.dataset, wc.method, "test"),
        grid_rows=config["evaluation"]["grid_rows"],
        batch_size=config["evaluation"].get("batch_size", 16),
    log:
        "results/logs/evaluate/{model}/{dataset}/{method}.log",
    script:
        "../scripts/evaluate.py"
