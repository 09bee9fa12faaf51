"""Models: the generators (the original's network, CSI, Scribbler), their losses, adversarial
training, the training loop and its device check, the original's released weights, and the
super-resolution upsampler.

Imports the package root, data and sketches only."""
