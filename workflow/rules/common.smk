# Helpers shared by the rules: config checks, shard lists and input functions.
from sketchback.config import (
    check_config,
    evaluation_plan,
    evaluation_styles,
    test_sets,
)
from sketchback.options import TrainOptions
from sketchback.sketch import SUBSET_METHODS, sketch_method
from sketchback.sources import has_handdrawn_sketches

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
            # a style shard sketches a subset of its photo shard and holds those photos itself
            (
                f"results/sketches/{dataset}/{method}/{split}/{shard}.npz"
                if method in SUBSET_METHODS
                else f"results/prepared/{dataset}/{split}/{shard}.npz"
            ),
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


def sketch_weights(wildcards):
    """The VGG16 weights file a sketch method reads (style with real weights), else nothing."""
    params = sketch_method(wildcards.method).resolve(config["sketch"][wildcards.method])
    # only methods that use VGG16 features have the key
    weights = params.get("vgg_weights", "random")
    return [] if weights == "random" else [weights]


def init_model(model):
    """The saved generator a model is fine-tuned from, or None."""
    init = config["models"][model]["init_from"]
    return f"results/models/{init}/generator.keras" if init else None


def train_inputs(wildcards):
    """Photo and sketch shards (aligned lists), the model fine-tuned from and the VGG16 weights."""
    train = model_pairs(wildcards.model, "train")
    val = model_pairs(wildcards.model, "val")
    weights = config["training"]["vgg_weights"]
    return {
        "train_photos": [photo for photo, _ in train],
        "train_sketches": [sketch for _, sketch in train],
        "val_photos": [photo for photo, _ in val],
        "val_sketches": [sketch for _, sketch in val],
        "init": [init_model(wildcards.model)] if init_model(wildcards.model) else [],
        # made by download_weights under resources/vgg16/
        "weights": [] if weights == "random" else [weights],
    }


def handdrawn_datasets_regex():
    """Wildcard pattern of the datasets whose source ships hand-drawn sketches (CUHK)."""
    names = [
        name
        for name, spec in config["datasets"].items()
        if has_handdrawn_sketches(spec["source"]["name"])
    ]
    return "|".join(names) if names else "(?!)"


def evaluations():
    """(model, test set, style) for every model, each of its test sets and each style of evaluation.styles."""
    return evaluation_plan(config)


def style_pairs(dataset):
    """Style -> (photo shard, sketch shard) test pairs of one test set, for the poster figures."""
    return {
        style: pairs(dataset, style, "test")
        for style in evaluation_styles(config, dataset)
    }


def style_inputs(wildcards):
    """Each style's aligned test shards of one test set, as named inputs photos_<style> and
    sketches_<style> (the poster figures' scripts pair them again in evaluation.styles order).
    """
    named = {}
    for style, test_pairs in style_pairs(wildcards.dataset).items():
        named[f"photos_{style}"] = [photo for photo, _ in test_pairs]
        named[f"sketches_{style}"] = [sketch for _, sketch in test_pairs]
    return named


def study_datasets():
    """Every dataset a model trains or is tested on, in config order."""
    used = {spec["dataset"] for spec in config["models"].values()}
    used |= {d for spec in config["models"].values() for d in spec["test_on"]}
    return [name for name in config["datasets"] if name in used]


def final_outputs():
    return (
        [
            "results/report/data_summary.csv",
            "results/report/data.png",
            "results/report/metrics_summary.csv",
            "results/report/loss_curves.png",
            "results/report/ssim.png",
            "results/report/cross_style.csv",
            "results/report/cross_style.png",
        ]
        + [
            f"results/evaluation/{model}/{dataset}/{method}/grid.png"
            for model, dataset, method in evaluations()
        ]
        + [
            f"results/report/poster/{model}/{dataset}.png"
            for model, dataset in test_sets(config)
        ]
        + [
            f"results/report/sketches/{dataset}.png"
            for dataset in dict.fromkeys(d for _, d in test_sets(config))
        ]
    )


def metric_weights(wildcards):
    """The VGG16 weights file the feature distance reads (the training loss's), unless random."""
    weights = config["training"]["vgg_weights"]
    return [] if weights == "random" else [weights]


def training_specs():
    """Model -> what it was trained on, for the cross-style table."""
    return {
        model: {"dataset": spec["dataset"], "methods": list(spec["methods"])}
        for model, spec in config["models"].items()
    }


def stage_description(model):
    """One line saying how a model was trained, for the loss curves and their caption."""
    spec = config["models"][model]
    start = (
        f"fine-tuned from the {spec['init_from']} model"
        if spec["init_from"]
        else "trained from scratch"
    )
    return (
        f"{model}: {start} on {spec['dataset']} ({'+'.join(spec['methods'])} sketches), "
        f"{spec['epochs']} epochs, learning rate {spec['learning_rate']}"
    )
