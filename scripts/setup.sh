#!/usr/bin/env bash
# Installs everything drydock needs from nothing; safe to run again (it only adds what is missing).
#   .venv         drydock-emulator[all,dev] (editable): torch, matplotlib, the real client
#                 fireworks-ai[training-sdk]==1.2.28, hypothesis, ray, and the dev tools
#   .venv-fw129   the older client many programs pin: fireworks-ai==1.2.9 over tinker==0.23.0
#   .venv-sagemaker  sagemaker==3.27.0 (its heavy mlflow stack) + moto + drydock with torch: the
#                    real SDK, the AWS endpoint and the trainer run in one process there
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
# This machine kind is CPU-only: pin the CPU wheel (an unpinned torch pulls a multi-GB CUDA build).
TORCH_SPEC=${DRYDOCK_TORCH_SPEC:-torch==2.13.0}
quiet() { "$@" 2>&1 | grep -v "^WARNING: Location" || true; test "${PIPESTATUS[0]}" -eq 0; }

if [ ! -x .venv/bin/python ]; then "$PY" -m venv .venv; fi
if ! .venv/bin/python -c "import drydock.cli, drydock.wire, torch, matplotlib, fireworks.training.sdk, hypothesis, pytest, xdist, ray, importlinter, mypy, ruff, build, schemathesis, playwright, mkdocs, swagger_ui_bundle" 2>/dev/null; then
  quiet .venv/bin/pip install -q --upgrade pip
  quiet .venv/bin/pip install -q "$TORCH_SPEC"
  quiet .venv/bin/pip install -q -e ".[all,dev]"
fi

if [ ! -x .venv-fw129/bin/python ]; then "$PY" -m venv .venv-fw129; fi
if ! .venv-fw129/bin/python -c "import fireworks.training.sdk.trainer, tinker, freezegun, drydock.testing" 2>/dev/null; then
  quiet .venv-fw129/bin/pip install -q --upgrade pip
  # urllib3: imported by 1.2.9's _rest_client, declared only in its [training-sdk] extra
  quiet .venv-fw129/bin/pip install -q "fireworks-ai==1.2.9" "tinker==0.23.0" "freezegun>=1.4" "urllib3>=1.26,<3"
  # drydock's client-side helpers only (no torch, no server) for the subprocess conformance runs
  quiet .venv-fw129/bin/pip install -q --no-deps -e .
fi
# kubeflow: the real Kubeflow SDK the /k8s dialect's conformance tests drive (0.5.0, the newest
# that installs here; it pulls kubernetes==35.0.0 and sits beside fireworks-ai in .venv).
if ! .venv/bin/python -c "import kubeflow.trainer, kubernetes" 2>/dev/null; then
  quiet .venv/bin/pip install -q "kubeflow==0.5.0"
fi
# kubeflow: kubectl, the second real client of the /k8s dialect (Debian's kubernetes-client).
# Its test skips, saying why, when kubectl is absent (not root, or no apt).
if ! command -v kubectl >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  quiet apt-get update -qq && quiet apt-get install -y -qq kubernetes-client || \
    echo "drydock: could not install kubectl (kubernetes-client); its test will be skipped"
fi
if [ ! -x .venv-sagemaker/bin/python ]; then "$PY" -m venv .venv-sagemaker; fi
if ! .venv-sagemaker/bin/python -c "import drydock.emulator, torch, sagemaker, moto, mlflow, pytest, hypothesis" 2>/dev/null; then
  quiet .venv-sagemaker/bin/pip install -q --upgrade pip
  quiet .venv-sagemaker/bin/pip install -q "$TORCH_SPEC"
  # [sagemaker]: sagemaker==3.27.0 and moto[server] (S3/STS/IAM/Logs behind the dialect's endpoint)
  quiet .venv-sagemaker/bin/pip install -q -e ".[trainer,testing,sagemaker]"
fi
# The dashboard's browser test drives Debian's chromium through playwright (playwright's own
# browser download cannot work offline). Installed when we are root and it is missing.
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
echo "drydock: environments ready (.venv, .venv-fw129, .venv-sagemaker)"
