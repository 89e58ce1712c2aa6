#!/usr/bin/env bash
# A saved report is a scenario file: its config reruns the same run. Secrets are not saved,
# so give them again (here through the environment); flags still win over the report.
set -euo pipefail
report="${1:-benchmarks.json}"
guidellm config --scenario "$report"                 # what the rerun will use, and why
guidellm run --scenario "$report" --output-dir rerun # the same run, reports in ./rerun
