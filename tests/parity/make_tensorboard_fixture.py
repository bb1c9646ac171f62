"""Writes tensorboard_events.bin: five events framed by TensorBoard's own code (the protobufs
and RecordWriter of the `tensorboard` pip package), which `fabnet::tensorboard` must reproduce
byte for byte. Run with a Python that has `pip install tensorboard`."""
import io
import pathlib
import struct
import zlib

from tensorboard.compat.proto.event_pb2 import Event, SessionLog
from tensorboard.compat.proto.summary_pb2 import Summary
from tensorboard.summary.writer.record_writer import RecordWriter


def png_1x1():
    """A valid 1x1 red PNG, built by hand so the fixture needs nothing beyond tensorboard."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b"")


events = [
    Event(wall_time=1.5, file_version="brain.Event:2"),
    Event(wall_time=2.25, step=7, summary=Summary(value=[Summary.Value(tag="train/loss", simple_value=0.125)])),
    Event(wall_time=3.0, step=0, summary=Summary(value=[Summary.Value(tag="val/loss", simple_value=0.0)])),
    Event(wall_time=4.0, step=8, summary=Summary(value=[Summary.Value(
        tag="samples", image=Summary.Image(height=1, width=1, colorspace=3, encoded_image_string=png_1x1()))])),
    Event(wall_time=5.0, step=9, session_log=SessionLog(status=SessionLog.START)),
]
out = io.BytesIO()
writer = RecordWriter(out)
for event in events:
    writer.write(event.SerializeToString())
path = pathlib.Path(__file__).with_name("tensorboard_events.bin")
path.write_bytes(out.getvalue())
(path.with_suffix(".png")).write_bytes(png_1x1())
print(f"wrote {path} ({len(out.getvalue())} bytes)")
