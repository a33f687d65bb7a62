"""Generated gRPC/protobuf modules of the Cellwright API v1. Do not edit."""
