# Stage 1: raw data into resources/{dataset}/, and the VGG16 weights the feature loss needs.
# Local rules: cluster compute nodes often have no internet.
#
# These two rules use run: instead of script:. Snakemake reruns a script rule whenever the script
# file is newer than the rule's output (a git pull, a fresh clone); for a download that would
# re-trigger the whole study, and for the weights it would delete a file placed by hand with an
# older date. Their params are what is downloaded (file names, checksums), not where from: a new
# mirror or URL does not rerun anything; the pinned checksums guard the content. How hard a download
# tries (config `download:` timeouts, retries, deadline, minimum speed) is read at run time, not a
# parameter either: changing it reruns nothing.
from sketchback.data.sources import run_download, run_download_file, source_content


localrules:
    download,
    download_weights,


rule download:
    output:
        "resources/{dataset}/manifest.csv",
    log:
        "results/logs/download/{dataset}.log",
    benchmark:
        "results/benchmarks/download/{dataset}.tsv"
    params:
        content=lambda wc: source_content(config["datasets"][wc.dataset]["source"]),
        seed=config["seed"],
    run:
        run_download(
            output[0],
            config["datasets"][wildcards.dataset]["source"],
            params.seed,
            config["download"],
            log[0],
        )


rule download_weights:
    output:
        "resources/vgg16/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
    log:
        "results/logs/download/vgg16_weights.log",
    benchmark:
        "results/benchmarks/download/vgg16_weights.tsv"
    params:
        md5=config["training"]["vgg_md5"],
    run:
        run_download_file(
            output[0],
            config["vgg_weights_urls"],
            params.md5,
            config["download"],
            log[0],
        )
