# The FID/KID reference network: the graph of TensorFlow's inception-2015-12-05 (sketchback.evaluation.inception).
# A local rule with a run: body, as in download.smk: a new URL or mirror reruns nothing; the graph's
# sha256 (evaluation.inception_sha256, unset by default: none is published) is what is downloaded.
# The evaluate jobs request it where evaluation.fid_network is inception (fid_graph in common.smk);
# `snakemake resources/inception/classify_image_graph_def.pb` makes it alone, or place that file there by hand.
from sketchback.evaluation.inception import run_download_inception


localrules:
    download_inception,


rule download_inception:
    output:
        INCEPTION_GRAPH,
    log:
        "results/logs/download/inception.log",
    benchmark:
        "results/benchmarks/download/inception.tsv"
    params:
        sha256=config["evaluation"]["inception_sha256"],
    run:
        run_download_inception(
            output[0],
            config["evaluation"]["inception_urls"],
            params.sha256,
            config["download"],
            log[0],
        )
