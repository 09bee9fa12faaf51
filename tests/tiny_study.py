"""The tiny study: the demo cut down to the smallest run of every stage, which several test files read.

``TINY`` is its config. The ``tiny_study`` fixture (tests/conftest.py) runs the whole DAG on it through
the real Snakemake once per test session; every test file that asks for it is put in one pytest-xdist
group (``STUDY_GROUP``), so one worker builds it and the others never wait for it. The study's folder has
no config.yaml (``snakemake_run.snakemake`` writes each config it is given to a file of its own), so
every Snakemake call on it passes its config: ``TINY`` or a changed copy.
"""

import yaml
from snakemake_run import REPO

STUDY_GROUP = "tiny_study"

TINY = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
TINY["image_size"] = 32
TINY["datasets"]["faces"].update(source={"name": "synthetic_faces", "n_images": 40, "raw_size": 64},
                                 shards={"train": 2, "val": 1, "test": 1})
TINY["datasets"]["buildings"].update(source={"name": "synthetic_buildings", "n_images": 30, "raw_size": 64},
                                     shards={"train": 2, "val": 1, "test": 1}, augment={"copies": 2})
TINY["training"].update(base_filters=4, residual_blocks=1, batch_size=8, jit_compile=False)
TINY["models"]["faces"]["epochs"] = 2
TINY["models"]["buildings"]["epochs"] = 1
# Every kind of model and stage of the demo runs once, as small as it can: a hint model, the ablation's
# adversarial variant against the faces model as its baseline (the demo's own control, a fine-tuning
# like the variant, is config only, as is the multi-style variant: pencil + xdog pairs), the
# super-resolution stage, the normalised style; 3 style sketches per test shard, one hint count.
del TINY["models"]["faces_multistyle"], TINY["models"]["faces_control"]
for _name in ("faces_hints", "faces_adversarial", "faces_original"):
    TINY["models"][_name]["epochs"] = 1
TINY["ablation"].update(baseline="faces", variants={"adversarial": "faces_adversarial"}, styles=["pencil"], rows=3)
# One training-seed replicate (the demo has two): the adversarial variant once more with seed 1.
assert TINY["models"]["faces_adversarial"]["replicates"] == [1]
TINY["superres"].update(models=["buildings", "faces"], epochs=1, patch_size=32, figure_rows=2)
TINY["sketch"]["style"]["max_images"] = 3
# Three evaluation styles of the demo's four: the style each model trained on, an unseen one and its normalised
# version (the normaliser's effect needs both). No model here trains on xdog and none is evaluated on it, so the
# study makes no xdog sketches. Its evaluations are one job per model and test set, as the demo's
# (evaluation.one_job_per: test_set): each job is a TensorFlow process, ~5.5 CPU-s to start here.
TINY["evaluation"].update(grid_rows=3, hint_strokes=[4], styles=["pencil", "style", "style_normalised"])
STYLES = TINY["evaluation"]["styles"]
MODELS = ["faces", "buildings", "faces_hints", "faces_adversarial", "faces_original", "faces_adversarial_seed1"]
