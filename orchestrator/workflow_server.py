"""The WorkflowService servicer: put, get, list and validate workflows (stored versions
are immutable; a job pins the version it started with)."""

from __future__ import annotations

import grpc

from cellwright.orchestrator import convert
from cellwright.orchestrator.errors import InvalidArgument, NotFound
from cellwright.orchestrator.live import Orchestrator
from cellwright.orchestrator.server import status
from cellwright.v1 import workflow_service_pb2 as wf_pb
from cellwright.v1 import workflow_service_pb2_grpc as wf_grpc


class WorkflowServicer(wf_grpc.WorkflowServiceServicer):
    """WorkflowService: workflows from integrators, checked against the plant."""

    def __init__(self, orchestrator: Orchestrator) -> None:
        self.catalog = orchestrator.engine.workflows
        self.engine, self.db = orchestrator.engine, orchestrator.db

    @status
    async def PutWorkflow(self, request: wf_pb.PutWorkflowRequest,
                          context: grpc.aio.ServicerContext) -> wf_pb.PutWorkflowResponse:
        origin = request.origin or "PutWorkflow"
        stored, created, diagnostics = await self.db.write(self.engine.put_workflow,
                                                           request.source, origin)
        return wf_pb.PutWorkflowResponse(
            workflow=convert.workflow_to_proto(stored, self.catalog.parsed(stored)), created=created,
            warnings=[convert.diagnostic_to_proto(d) for d in diagnostics])

    @status
    async def GetWorkflow(self, request: wf_pb.GetWorkflowRequest,
                          context: grpc.aio.ServicerContext) -> wf_pb.GetWorkflowResponse:
        if not request.name:
            raise InvalidArgument("name", "required: the workflow's name")
        versions = await self.db.read(self.engine.reader.workflow_versions, request.name)
        if not versions:
            raise NotFound(f"workflow {request.name!r} not found")
        if request.version > len(versions):
            raise NotFound(f"workflow {request.name!r} has no version {request.version}; versions: "
                           f"1..{len(versions)}")
        stored = versions[request.version - 1] if request.version else versions[-1]
        return wf_pb.GetWorkflowResponse(
            workflow=convert.workflow_to_proto(stored, self.catalog.parsed(stored)))

    @status
    async def ListWorkflows(self, request: wf_pb.ListWorkflowsRequest,
                            context: grpc.aio.ServicerContext) -> wf_pb.ListWorkflowsResponse:
        if request.name:
            stored = await self.db.read(self.engine.reader.workflow_versions, request.name)
        else:
            stored = await self.db.read(self.engine.reader.newest_workflows)
        return wf_pb.ListWorkflowsResponse(
            workflows=[convert.workflow_to_proto(w, self.catalog.parsed(w)) for w in stored])

    @status
    async def ValidateWorkflow(self, request: wf_pb.ValidateWorkflowRequest,
                               context: grpc.aio.ServicerContext) -> wf_pb.ValidateWorkflowResponse:
        diagnostics = await self.db.read(self.catalog.validate, request.source,
                                         request.origin or "ValidateWorkflow")
        return wf_pb.ValidateWorkflowResponse(
            valid=not any(d.severity == "error" for d in diagnostics),
            diagnostics=[convert.diagnostic_to_proto(d) for d in diagnostics])
