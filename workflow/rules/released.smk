# The original study's own material: its released weights as models of the study, and its
# published result figures redone by them (README, "The original's released models").
# Downloads are local rules (compute nodes often have no internet) with run: bodies, as in
# download.smk: a new URL or mirror reruns nothing. No checksum of the weights is published: a
# file is kept only when it opens as HDF5 with the original generator's layer shapes.
from sketchback.models.released import check_original_weights
from sketchback.data.sources import run_download_file


localrules:
    download_released,
    download_original_example,


rule download_released:
    output:
        "resources/released/{weights}.h5",
    log:
        "results/logs/download/released_{weights}.log",
    run:
        run_download_file(
            output[0],
            config["released_weights"][wildcards.weights]["urls"],
            None,
            config["download"],
            log[0],
            verify=check_original_weights,
        )


# The conversion is the command a user runs by hand: sketchback import-original.
rule import_released:
    input:
        lambda wc: f"resources/released/{config['models'][wc.model]['released']}.h5",
    output:
        "results/models/{model}/generator.keras",
    log:
        "results/logs/import_released/{model}.log",
    wildcard_constraints:
        model=released_models_regex(),
    params:
        size=lambda wc: "x".join(map(str, released_entry(wc.model)["training_size"])),
        origin=lambda wc: released_entry(wc.model)["origin"],
    shell:
        "sketchback import-original {input:q} {output:q} --trained-at {params.size} "
        "--origin {params.origin:q} > {log:q} 2>&1"


rule download_original_example:
    output:
        "resources/original_examples/{figure}.png",
    log:
        "results/logs/download/original_examples/{figure}.log",
    params:
        sha256=lambda wc: original_example_sha256(wc.figure),
    run:
        run_download_file(
            output[0],
            [config["original_examples"]["url"].format(name=wildcards.figure)],
            None,
            config["download"],
            log[0],
            sha256=params.sha256,
        )


rule original_examples:
    input:
        unpack(original_examples_inputs),
    output:
        table="results/report/original_examples/{set}.csv",
        summary="results/report/original_examples/{set}_summary.csv",
        figure=report(
            "results/report/original_examples/{set}.png",
            caption="../report/original_examples.rst",
            category="9 The original's examples",
            labels={"set": "{set}"},
        ),
    log:
        "results/logs/report/original_examples/{set}.log",
    benchmark:
        "results/benchmarks/report/original_examples/{set}.tsv"
    params:
        batch_size=config["evaluation"]["batch_size"],
    script:
        "../scripts/original_examples.py"
