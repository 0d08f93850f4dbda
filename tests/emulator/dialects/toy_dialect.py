"""A toy dialect, defined only in tests: one resource (`runs`), its own error format, on the
neutral core. The worked example of docs/architecture.md; if this needs a core change, the seam
is wrong."""

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from drydock.emulator import Dialect, JobSpec, RestartPolicy
from drydock.emulator.shapes import BaseModelEntry, CapacityPool, ShapeCatalog


class ToyDialect(Dialect):
    name, prefix = "toy", "/toy"
    public_tenants = frozenset()

    def routers(self):
        r = APIRouter()

        def plane(request: Request):
            cp = request.app.state.control_plane
            return cp, cp.authenticate(request.headers.get("authorization", "").removeprefix("Key ")).id

        @r.post("/runs", name="runs.create")
        async def create(request: Request):
            cp, tenant = plane(request)
            body = await request.json()
            spec = JobSpec(base_model="toy-model", accelerator_type="TPU", region="LAB",
                           accelerator_count=int(body.get("chips", 1)))
            job = cp.create_job(tenant, body["name"], spec, {"owner": body.get("owner", "")},
                                dialect=self.name, restart=RestartPolicy(mode="restart", max_restarts=1))
            return self.to_wire(job)

        @r.get("/runs/{name}", name="runs.get")
        async def get(name: str, request: Request):
            cp, tenant = plane(request)
            return self.to_wire(cp.get_job(tenant, name, self.name))

        return [r]

    def to_wire(self, job):
        return {"run": job.id, "phase": self.wire_state(job.state), "owner": job.payload["owner"],
                "restarts": job.restarts}

    def error_response(self, request, status, message, error=None, headers=None):
        return JSONResponse({"error": {"status": status, "reason": message}}, status_code=status,
                            headers=headers)

    def wire_state(self, state):
        return state.value.lower()

    def resource_name(self, tenant, job_id):
        return f"runs/{job_id}"

    def catalog_entries(self):
        return ShapeCatalog(models=[BaseModelEntry(name="toy-model")], training_shapes=[],
                            pools=[CapacityPool(region="LAB", accelerator_type="TPU", accelerators=2)],
                            default_region="LAB")
