# Helpers shared by the rules: config checks, shard lists and input functions.
import os

from sketchback.tools.config import (
    base_style,
    check_config,
    evaluation_plan,
    evaluation_styles,
    hint_evaluation_plan,
    hint_models,
    normaliser_params,
    released_models,
    styles_of_test_sets,
    test_sets,
    trained_models,
)
from sketchback.data.sources import HANDDRAWN
from sketchback.evaluation.ablation import ablation_variants, check_ablation
from sketchback.models.options import (
    TrainOptions,
    replicate_models,
    training_seeds,
    with_replicates,
)
from sketchback.sketches.sketch import SUBSET_METHODS, sketch_method
from sketchback.data.sources import has_handdrawn_sketches
from sketchback.models.superres import (
    SuperresOptions,
    check_superres,
    superres_datasets,
    superres_style,
    superres_test_models,
    superres_test_sets,
)

check_config(config)
# The plan's models: the config's, plus <name>_seed<s> for each extra training seed of models.<name>.replicates.
config["models"] = with_replicates(config["models"], config["seed"])
check_superres(config)
check_ablation(config)


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
    base = base_style(method)  # a <style>_normalised style has its style's photos
    return [
        (
            # a style shard sketches a subset of its photo shard and holds those photos itself
            (
                f"results/sketches/{dataset}/{base}/{split}/{shard}.npz"
                if base in SUBSET_METHODS
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


def names_regex(names):
    """A wildcard pattern matching exactly these names (one that matches nothing for none)."""
    return "|".join(names) if names else "(?!)"


def trained_models_regex():
    """The models rule train makes (every model but the released ones, and the training-seed replicates)."""
    return names_regex(trained_models(config) + replicate_models(config["models"]))


def released_models_regex():
    """The models rule import_released makes from the original's weight files."""
    return names_regex(released_models(config))


def released_entry(model):
    """The released_weights entry a released model is converted from."""
    return config["released_weights"][config["models"][model]["released"]]


def original_example_sha256(figure):
    """The pinned sha256 of one of the original's example figures."""
    for spec in config["original_examples"]["sets"].values():
        if figure in spec["figures"]:
            return spec["figures"][figure]
    raise ValueError(f"{figure!r} is not a figure of original_examples.sets")


def original_examples_inputs(wildcards):
    """One set's figures and the generators that redo them (model_<name>)."""
    spec = config["original_examples"]["sets"][wildcards.set]
    named = {
        "figures": [
            f"resources/original_examples/{figure}.png" for figure in spec["figures"]
        ]
    }
    for model in spec["models"]:
        named[f"model_{model}"] = f"results/models/{model}/generator.keras"
    return named


def original_examples_outputs():
    """The examples' tables and figures (none without original_examples:)."""
    if not config["original_examples"]:
        return []
    return [
        f"results/report/original_examples/{name}{suffix}"
        for name in config["original_examples"]["sets"]
        for suffix in (".csv", "_summary.csv", ".png")
    ]


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


def normalisable_styles_regex():
    """Wildcard pattern of the styles rule normalise makes a <style>_normalised style of."""
    return "|".join([*config["sketch"], HANDDRAWN])


def handdrawn_datasets_regex(handdrawn=True):
    """Wildcard pattern of the datasets whose source ships hand-drawn sketches (CUHK), or (False) of the others."""
    names = [
        name
        for name, spec in config["datasets"].items()
        if has_handdrawn_sketches(spec["source"]["name"]) == handdrawn
    ]
    return names_regex(names)


def test_set_styles(handdrawn):
    """The styles of evaluation.styles a test set with (handdrawn=True) or without hand-drawn sketches comes in."""
    return styles_of_test_sets(config, handdrawn)


def test_shards(styles, photos):
    """Input function: the test set's photo (photos=True) or sketch shards of every style of styles, one
    style after another (sketchback.evaluation.evaluate.split_by_style pairs them again).
    """

    def shards(wildcards):
        return [
            pair[0 if photos else 1]
            for style in styles
            for pair in pairs(wildcards.dataset, style, "test")
        ]

    return shards


def evaluations():
    """(model, test set, style) for every model, each of its test sets and each style of evaluation.styles."""
    return evaluation_plan(config)


def normalised_evaluations():
    """The (model, test set, style) evaluations of <style>_normalised styles, for their effect table."""
    replicates = replicate_models(config["models"])  # the base runs' effect only
    return [
        e
        for e in evaluation_plan(config)
        if base_style(e[2]) != e[2] and e[0] not in replicates
    ]


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
        + (["results/report/normalise_effect.csv"] if normalised_evaluations() else [])
        + hint_outputs()
        + superres_outputs()
        + ablation_outputs()
        + original_examples_outputs()
    )


def hint_evaluations():
    """The hint-count evaluations' metric files: each hint model, test set, style and count."""
    return [
        f"results/evaluation/{model}/{dataset}/{method}/hints_{n}/metrics.csv"
        for model, dataset, method in hint_evaluation_plan(config)
        for n in config["evaluation"]["hint_strokes"]
    ]


def hint_figure_pairs(wildcards):
    """Test pairs of the hint figure: the test set in the first style the model was trained on."""
    style = config["models"][wildcards.model]["methods"][0]
    return pairs(wildcards.dataset, style, "test")


def hint_outputs():
    """The hint table and each hint model's figure of increasing hints (nothing without hint models)."""
    if not hint_models(config):
        return []
    return ["results/report/hints.csv"] + [
        f"results/report/hints/{model}/{dataset}.png"
        for model, dataset in test_sets(config)
        if model in hint_models(config)
    ]


def metric_weights(wildcards):
    """The VGG16 weights file the feature distance reads (the training loss's), unless random."""
    weights = config["training"]["vgg_weights"]
    return [] if weights == "random" else [weights]


# The FID/KID reference network's graph, made by rule download_inception (inception.smk).
INCEPTION_GRAPH = "resources/inception/classify_image_graph_def.pb"


def fid_graph(wildcards):
    """The Inception graph FID and KID read (evaluation.fid_network: inception), else nothing."""
    network = config["evaluation"]["fid_network"]
    return [INCEPTION_GRAPH] if network == "inception" else []


def scoring_params():
    """The params every evaluation job (evaluate, evaluate_handdrawn, evaluate_hints) passes to its
    script: the grid's rows, the feature distance's VGG16, the seed, and FID/KID's settings.
    """
    evaluation, training = config["evaluation"], config["training"]
    return {
        "grid_rows": evaluation["grid_rows"],
        "vgg_weights": training["vgg_weights"],
        "vgg_md5": training["vgg_md5"],
        "seed": config["seed"],
        "fid_network": evaluation["fid_network"],
        "kid_subsets": evaluation["kid_subsets"],
        "kid_subset_size": evaluation["kid_subset_size"],
    }


def evaluation_metrics():
    """Every evaluation's metrics.csv: each model, test set and style, and each hint count."""
    return [
        f"results/evaluation/{model}/{dataset}/{method}/metrics.csv"
        for model, dataset, method in evaluations()
    ] + hint_evaluations()


def beside(paths, name):
    """The file ``name`` in the folder of each path (the distribution.csv next to a metrics.csv)."""
    return [os.path.join(os.path.dirname(path), name) for path in paths]


def training_specs():
    """Model -> what it was trained on, for the cross-style table; a training-seed replicate also names its
    base model and seed (replicate_of, training_seed)."""
    return {
        model: {
            "dataset": spec["dataset"],
            "methods": list(spec["methods"]),
            **{k: spec[k] for k in ("replicate_of", "training_seed") if k in spec},
        }
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


def superres_photos(dataset, split):
    """The shards of one dataset and split again at superres.factor x image_size."""
    return expand(
        "results/superres/prepared/{dataset}/{split}/{shard}.npz",
        dataset=dataset,
        split=split,
        shard=shard_ids(dataset, split),
    )


def superres_train_inputs(wildcards):
    """The upsampler's training photos of each dataset (photos_<dataset>), and the VGG16 weights
    when its feature loss is on."""
    weights = SuperresOptions.from_config(config).vgg_weights
    named = {"weights": [] if weights == "random" else [weights]}
    for dataset in superres_datasets(config):
        named[f"photos_{dataset}"] = superres_photos(dataset, "train")
    return named


def superres_evaluate_inputs(wildcards):
    """One test set at both sizes, the upsampler, and per upscaled model its generator and aligned
    test shards in its style (generator_<model>, photos_<model>, sketches_<model>)."""
    named = {
        "upsampler": "results/superres/upsampler.keras",
        "photos": photo_shards(wildcards.dataset, "test"),
        "truths": superres_photos(wildcards.dataset, "test"),
        "weights": metric_weights(wildcards),
    }
    for model in superres_test_models(config, wildcards.dataset):
        test_pairs = pairs(wildcards.dataset, superres_style(config, model), "test")
        named[f"generator_{model}"] = f"results/models/{model}/generator.keras"
        named[f"photos_{model}"] = [photo for photo, _ in test_pairs]
        named[f"sketches_{model}"] = [sketch for _, sketch in test_pairs]
    return named


def superres_outputs():
    """The super-resolution stage's results (none unless superres.enabled)."""
    if not config["superres"]["enabled"]:
        return []
    return [
        "results/report/superres_summary.csv",
        "results/report/superres.png",
    ] + [
        f"results/superres/evaluation/{dataset}/examples.png"
        for dataset in superres_test_sets(config)
    ]


# --- The ablation (ablation: in the config; rules in ablation.smk) ---


def ablation_metrics():
    plan = config["ablation"]
    # no ablation: in the config: the rules stay defined, nothing asks for them
    if not plan:
        return []
    return [
        f"results/evaluation/{model}/{plan['test_set']}/{style}/metrics.csv"
        for model in ablation_variants(plan).values()
        for style in plan["styles"]
    ]


def ablation_seed_runs():
    """Label -> {training seed: model} of each variant's runs (the base seed first, then its replicates)."""
    plan = config["ablation"]
    if not plan:
        return {}
    return {
        label: training_seeds(config["models"], model, config["seed"])
        for label, model in ablation_variants(plan).items()
    }


def ablation_replicate_metrics():
    """The replicates' per-image metrics the ablation's seed spread reads (label, seed, style in order)."""
    plan = config["ablation"]
    return [
        f"results/evaluation/{model}/{plan['test_set']}/{style}/metrics.csv"
        for runs in ablation_seed_runs().values()
        for seed, model in runs.items()
        if seed != config["seed"]
        for style in plan["styles"]
    ]


def ablation_superres():
    """The super-resolution summary when the ablation shows its rows, else nothing."""
    plan = config["ablation"]
    wanted = plan and plan["superres"] and config["superres"]["enabled"]
    return ["results/report/superres_summary.csv"] if wanted else []


def ablation_figure_inputs(wildcards):
    """The variants' generators and the compared styles' test shards (photos_<style>, sketches_<style>)."""
    plan = config["ablation"]
    named = {
        "models": [
            f"results/models/{model}/generator.keras"
            for model in ablation_variants(plan).values()
        ]
    }
    for style in plan["styles"]:
        test_pairs = pairs(plan["test_set"], style, "test")
        named[f"photos_{style}"] = [photo for photo, _ in test_pairs]
        named[f"sketches_{style}"] = [sketch for _, sketch in test_pairs]
    return named


def ablation_outputs():
    if not config["ablation"]:
        return []
    return [
        "results/report/ablation.csv",
        "results/report/ablation.md",
        "results/report/ablation.png",
    ]


def evaluation_grids(styles):
    """The evaluate rules' grid of each style, each a report entry labelled with its model, test set and style."""
    return [evaluation_grid(style) for style in styles]


def evaluation_grid(style):
    return report(
        f"results/evaluation/{{model}}/{{dataset}}/{style}/grid.png",
        caption="../report/grid.rst",
        category="4 Evaluation",
        subcategory="{model} model: grids per test set and style",
        labels={"model": "{model}", "test set": "{dataset}", "sketch": style},
    )
