"""Lists a gRPC server's services with Python's reflection client (v1alpha).

Usage: list_services.py HOST:PORT   (prints one service name per line)
"""
import sys

import grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

target = sys.argv[1]
with grpc.insecure_channel(target) as channel:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    try:
        for response in stub.ServerReflectionInfo(iter([request]), timeout=10):
            for service in response.list_services_response.service:
                print(service.name)
    except grpc.RpcError as err:
        print(f"v1alpha reflection: {err.code().name}: {err.details()}", file=sys.stderr)
        sys.exit(1)
