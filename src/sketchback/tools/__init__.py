"""What a person or the workflow runs: the study config's checks and plans (read by
workflow/rules/common.smk), the ``sketchback`` command line, the web page and its server, and
export to other runtimes. The top layer: nothing in the package imports it."""
