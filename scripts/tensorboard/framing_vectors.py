"""Prints the reference values of Tests/ROPIMTensorBoardTests/TFRecordTests.swift, computed by TensorBoard's own
code (pip install tensorboard): CRC-32C, masked CRC-32C and the TFRecord framing of a few byte strings, and the
bytes of one scalar Event serialized by TensorBoard's protobuf classes.

Usage: python3 scripts/tensorboard/framing_vectors.py
"""
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import crc32c, masked_crc32c
from tensorboard.summary.writer.record_writer import RecordWriter
import io

for name, data in [("123456789", b"123456789"), ("32 zeros", bytes(32)), ("0...31", bytes(range(32))), ("empty", b"")]:
    print(f"{name}: crc32c 0x{crc32c(data):08X} masked 0x{masked_crc32c(data):08X}")

buf = io.BytesIO()
RecordWriter(buf).write(b"hello")
print("frame(hello):", buf.getvalue().hex())

event = event_pb2.Event(wall_time=1.5, step=7,
                        summary=summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag="loss", simple_value=0.25)]))
print("event(loss 0.25 at step 7, wall 1.5):", event.SerializeToString().hex())
