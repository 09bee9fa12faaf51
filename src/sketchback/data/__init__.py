"""The study's data: where the raw images come from (sources, fetch, extract), the embedded synthetic
demo data, and the prepared shards of photo/sketch pairs the models read.

Lowest of the study's layers after the package root (io, images, logs, vgg, errors): imports nothing
of sketches, models, evaluation or tools."""
