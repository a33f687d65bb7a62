"""The Cellwright orchestrator: jobs, workflows, scheduling and cell sessions over gRPC."""
