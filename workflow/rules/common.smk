# Helpers shared by the rules: config checks, shard lists and input functions.
from sketchback.config import check_config

check_config(config)


localrules:
    all,


wildcard_constraints:
    dataset="[A-Za-z0-9_]+",
    method="[A-Za-z0-9_]+",
    model="[A-Za-z0-9_]+",
    split="train|val|test",
    shard="[0-9]{3}",


def shard_ids(dataset, split):
    return [f"{i:03d}" for i in range(config["datasets"][dataset]["shards"][split])]


def photo_shards(dataset, split):
    return expand(
        "results/prepared/{dataset}/{split}/{shard}.npz",
        dataset=dataset,
        split=split,
        shard=shard_ids(dataset, split),
    )


def pairs(dataset, method, split, augmented=False):
    """(photo shard, sketch shard) pairs of one dataset, method and split."""
    if augmented:
        return [
            (path, path)
            for path in expand(
                "results/augmented/{dataset}/{method}/{split}/{shard}.npz",
                dataset=dataset,
                method=method,
                split=split,
                shard=shard_ids(dataset, split),
            )
        ]
    return [
        (
            f"results/prepared/{dataset}/{split}/{shard}.npz",
            f"results/sketches/{dataset}/{method}/{split}/{shard}.npz",
        )
        for shard in shard_ids(dataset, split)
    ]


def model_pairs(model, split):
    spec = config["models"][model]
    augmented = split == "train" and "augment" in config["datasets"][spec["dataset"]]
    return [
        pair
        for method in spec["methods"]
        for pair in pairs(spec["dataset"], method, split, augmented)
    ]


def flatten(pair_list):
    return sorted({path for pair in pair_list for path in pair})


def init_model(model):
    """The saved generator a model is fine-tuned from, or None."""
    init = config["models"][model].get("init_from")
    return f"results/models/{init}/generator.keras" if init else None


def train_inputs(wildcards):
    files = flatten(model_pairs(wildcards.model, "train") + model_pairs(wildcards.model, "val"))
    if init := init_model(wildcards.model):
        files.append(init)
    return files


def evaluations():
    """(model, dataset, method) for every model, test set and sketch style of that set."""
    return [
        (model, dataset, method)
        for model, spec in config["models"].items()
        for dataset in spec["test_on"]
        for method in config["datasets"][dataset]["sketch_methods"]
    ]


def final_outputs():
    return [
        "results/report/metrics_summary.csv",
        "results/report/loss_curves.png",
        "results/report/ssim.png",
    ] + [
        f"results/evaluation/{model}/{dataset}/{method}/grid.png"
        for model, dataset, method in evaluations()
    ]
