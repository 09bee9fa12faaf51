# Stages 5-6: train each model; a model with init_from (buildings) fine-tunes the saved one.
# A killed job (SIGTERM at a time limit) leaves a checkpoint in work/; rerunning resumes from it.
# Params are the options that decide the weights (sketchback.models.options.TrainOptions); how a run is
# carried out (logging, checkpoints, XLA, op determinism) is read at run time and reruns nothing.


rule train:
    input:
        unpack(train_inputs),
    output:
        model="results/models/{model}/generator.keras",
        history="results/models/{model}/history.csv",
    log:
        "results/logs/train/{model}.log",
    benchmark:
        "results/benchmarks/train/{model}.tsv"
    wildcard_constraints:
        # the released models are converted, not trained (rule import_released)
        model=trained_models_regex(),
    threads: config["training"]["threads"]
    params:
        options=lambda wc: TrainOptions.from_config(config, wc.model).as_params(),
        # Not outputs: Snakemake must not delete the checkpoint of a killed job (it is resumed).
        work_dir=lambda wc: f"results/models/{wc.model}/work",
        tensorboard_dir=lambda wc: f"results/models/{wc.model}/tensorboard",
    script:
        "../scripts/train.py"
