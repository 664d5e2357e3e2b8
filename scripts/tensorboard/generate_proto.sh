#!/usr/bin/env bash
# Regenerates Sources/ROPIMTensorBoard/event.pb.swift from Sources/ROPIMTensorBoard/Proto/event.proto; run it
# after editing the .proto and commit both. The generated code is committed so that building ropim never
# builds the code generator. Needs protoc (Debian: apt-get install protobuf-compiler) and protoc-gen-swift of
# the swift-protobuf version in Package.resolved, built once outside this repository:
#   git clone --branch 1.39.0 https://github.com/apple/swift-protobuf /tmp/swift-protobuf
#   (cd /tmp/swift-protobuf && swift build --product protoc-gen-swift)
#   PLUGIN=/tmp/swift-protobuf/.build/debug/protoc-gen-swift bash scripts/tensorboard/generate_proto.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
plugin=${PLUGIN:?set PLUGIN to the protoc-gen-swift executable (see the comment at the top of this script)}
protoc --plugin=protoc-gen-swift="$plugin" --swift_opt=Visibility=Internal \
  --swift_out=Sources/ROPIMTensorBoard -I Sources/ROPIMTensorBoard/Proto event.proto
echo "wrote Sources/ROPIMTensorBoard/event.pb.swift"
