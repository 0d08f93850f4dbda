"""A real local MLflow tracking store (SQLite) where training jobs log their metrics, and
MLflow's own tracking server app (WSGI) behind the AWS endpoint for the SDK's REST calls.

MLflow's server keeps one store per process, so the store is process-wide. Creating a SQLite
store runs MLflow's migrations (~3-10 s); a migrated empty database is kept as a template under
the user cache and copied for each new store.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

__all__ = ["LocalMlflow"]

_lock = threading.Lock()
_shared: LocalMlflow | None = None


class LocalMlflow:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.uri = f"sqlite:///{self.root / 'mlflow.db'}"
        self._client: Any = None
        self._runs: dict[str, str] = {}
        self._ready = False

    @classmethod
    def shared(cls) -> LocalMlflow:
        global _shared
        with _lock:
            if _shared is None:
                _shared = cls(Path(tempfile.mkdtemp(prefix="drydock-mlflow-")))
            return _shared

    def _ensure(self) -> None:
        if self._ready:
            return
        with _lock:
            if self._ready:
                return
            import mlflow

            self.root.mkdir(parents=True, exist_ok=True)
            db = self.root / "mlflow.db"
            cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "drydock"
            template = cache / f"mlflow-{mlflow.__version__}-empty.sqlite"
            if not db.exists() and template.exists():
                shutil.copyfile(template, db)
            from mlflow.tracking import MlflowClient

            self._client = MlflowClient(tracking_uri=self.uri)
            self._client.search_experiments(max_results=1)  # migrates a new database
            if not template.exists():
                cache.mkdir(parents=True, exist_ok=True)
                tmp = template.with_suffix(".tmp")
                shutil.copyfile(db, tmp)
                os.replace(tmp, template)
            os.environ["_MLFLOW_SERVER_FILE_STORE"] = self.uri
            os.environ["_MLFLOW_SERVER_ARTIFACT_ROOT"] = str(self.root / "artifacts")
            self._ready = True

    @property
    def client(self) -> Any:
        self._ensure()
        return self._client

    def wsgi_app(self) -> Any:
        """MLflow's tracking server (Flask), created on the first request."""
        state: dict[str, Any] = {}

        def app(environ, start_response):
            if "app" not in state:
                self._ensure()
                from mlflow.server import app as flask_app

                state["app"] = flask_app
            return state["app"](environ, start_response)

        return app

    def log_metrics(self, rec: Any, metrics: dict, step: int) -> None:
        cfg = rec.request.get("MlflowConfig") or {}
        experiment = cfg.get("MlflowExperimentName") or rec.name
        run_name = cfg.get("MlflowRunName") or rec.name
        client = self.client
        run_id = self._runs.get(rec.name)
        if run_id is None:
            exp = client.get_experiment_by_name(experiment)
            exp_id = exp.experiment_id if exp else client.create_experiment(experiment)
            run_id = client.create_run(
                exp_id, run_name=run_name, tags={"sagemaker.training_job": rec.name}
            ).info.run_id
            self._runs[rec.name] = run_id
        ts = int(rec.last_modified * 1000)
        for k, v in sorted(metrics.items()):
            client.log_metric(run_id, k, float(v), timestamp=ts, step=step)

    def run_id(self, job_name: str) -> str | None:
        return self._runs.get(job_name)
