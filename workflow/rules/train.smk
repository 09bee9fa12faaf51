# Stages 5-6: train each model; a model with init_from (buildings) fine-tunes the saved one.
# A killed job (SIGTERM at a time limit) leaves a checkpoint in work/; rerunning resumes from it.


rule train:
    input:
        train_inputs,
    output:
        model="results/models/{model}/generator.keras",
        history="results/models/{model}/history.csv",
    params:
        train_pairs=lambda wc: model_pairs(wc.model, "train"),
        val_pairs=lambda wc: model_pairs(wc.model, "val"),
        init_model=lambda wc: init_model(wc.model),
        image_size=config["image_size"],
        seed=config["seed"],
        training=config["training"],
        epochs=lambda wc: config["models"][wc.model]["epochs"],
        learning_rate=lambda wc: config["models"][wc.model]["learning_rate"],
        # Not outputs: Snakemake must not delete the checkpoint of a killed job (it is resumed).
        work_dir=lambda wc: f"results/models/{wc.model}/work",
        tensorboard_dir=lambda wc: f"results/models/{wc.model}/tensorboard",
    threads: 2
    log:
        "results/logs/train/{model}.log",
    benchmark:
        "results/benchmarks/train/{model}.tsv"
    script:
        "../scripts/train.py"
