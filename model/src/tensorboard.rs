//! TensorBoard event files (`events.out.tfevents.*`): scalars and PNG images, so that
//! `tensorboard --logdir RUNS` shows training as it goes.
//!
//! An event file is a sequence of TFRecords, each one serialized `Event` protobuf. Only the few
//! fields written here are declared (prost derives their encoding); the framing is TFRecord's:
//! little-endian length, masked CRC-32C of the length, the bytes, masked CRC-32C of the bytes.
//! The bytes are checked against TensorBoard's own writer (`tests/parity/tensorboard_events.bin`).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// `tensorflow.Event`, restricted to what a training log needs.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Event {
    #[prost(double, tag = "1")]
    pub wall_time: f64,
    #[prost(int64, tag = "2")]
    pub step: i64,
    #[prost(oneof = "What", tags = "3, 5, 7")]
    pub what: Option<What>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
pub enum What {
    /// The first event of every file names the format version.
    #[prost(string, tag = "3")]
    FileVersion(String),
    #[prost(message, tag = "5")]
    Summary(Summary),
    #[prost(message, tag = "7")]
    SessionLog(SessionLog),
}

/// `tensorflow.SessionLog`. A `START` at step N tells TensorBoard that a run restarted there:
/// it drops the events at steps N and later that it read before (those a killed run wrote after
/// its last checkpoint).
#[derive(Clone, PartialEq, prost::Message)]
pub struct SessionLog {
    /// 1 = START.
    #[prost(int32, tag = "1")]
    pub status: i32,
}

pub const SESSION_START: i32 = 1;

/// `tensorflow.Summary`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Summary {
    #[prost(message, repeated, tag = "1")]
    pub value: Vec<Value>,
}

/// `tensorflow.Summary.Value`: a tagged scalar or image.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Value {
    #[prost(string, tag = "1")]
    pub tag: String,
    #[prost(oneof = "Data", tags = "2, 4")]
    pub data: Option<Data>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Data {
    #[prost(float, tag = "2")]
    SimpleValue(f32),
    #[prost(message, tag = "4")]
    Image(Image),
}

/// `tensorflow.Summary.Image`: an encoded PNG and its size.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Image {
    #[prost(int32, tag = "1")]
    pub height: i32,
    #[prost(int32, tag = "2")]
    pub width: i32,
    /// 3 = RGB.
    #[prost(int32, tag = "3")]
    pub colorspace: i32,
    #[prost(bytes = "vec", tag = "4")]
    pub encoded_image_string: Vec<u8>,
}

const FILE_VERSION: &str = "brain.Event:2";

fn masked_crc(bytes: &[u8]) -> u32 {
    let crc = crc32c::crc32c(bytes);
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// Appends events to a new event file in a run directory.
pub struct EventWriter {
    file: BufWriter<File>,
    path: PathBuf,
}

impl EventWriter {
    /// A new file `events.out.tfevents.<seconds>.<host>.<pid>` in `dir`. A resumed run gets its
    /// own file, and TensorBoard reads the files of a directory in name order, so the seconds in
    /// the name are made later than those of every event file already there.
    pub fn create(dir: &Path) -> io::Result<Self> {
        let wall_time = now();
        let host = std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty() && !h.contains('/')).unwrap_or_else(|| "fabnet".into());
        let latest = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok()?.file_name().to_str()?.strip_prefix("events.out.tfevents.")?.split('.').next()?.parse::<u64>().ok())
            .max();
        let seconds = latest.map_or(wall_time as u64, |l| (wall_time as u64).max(l + 1));
        let path = dir.join(format!("events.out.tfevents.{seconds:010}.{host}.{}", std::process::id()));
        let mut writer = Self { file: BufWriter::new(File::create_new(&path)?), path };
        writer.write(&Event { wall_time, step: 0, what: Some(What::FileVersion(FILE_VERSION.into())) })?;
        writer.flush()?;
        Ok(writer)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Marks a restart: the events that follow replace those from `step` on.
    pub fn restart(&mut self, step: u64) -> io::Result<()> {
        self.write(&Event { wall_time: now(), step: step as i64, what: Some(What::SessionLog(SessionLog { status: SESSION_START })) })
    }

    /// Several scalars at one step, in one event.
    pub fn scalars(&mut self, step: u64, values: &[(&str, f64)]) -> io::Result<()> {
        let value = values.iter().map(|&(tag, v)| Value { tag: tag.into(), data: Some(Data::SimpleValue(v as f32)) }).collect();
        self.summary(step, Summary { value })
    }

    /// A PNG image (already encoded) at one step.
    pub fn png(&mut self, step: u64, tag: &str, png: &[u8], width: u32, height: u32) -> io::Result<()> {
        let image = Image { height: height as i32, width: width as i32, colorspace: 3, encoded_image_string: png.to_vec() };
        self.summary(step, Summary { value: vec![Value { tag: tag.into(), data: Some(Data::Image(image)) }] })
    }

    /// Pushes what was written to the file, so that a live TensorBoard sees it.
    pub fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }

    fn summary(&mut self, step: u64, summary: Summary) -> io::Result<()> {
        self.write(&Event { wall_time: now(), step: step as i64, what: Some(What::Summary(summary)) })
    }

    fn write(&mut self, event: &Event) -> io::Result<()> {
        self.file.write_all(&record(event))
    }
}

/// One TFRecord holding `event`.
fn record(event: &Event) -> Vec<u8> {
    let data = prost::Message::encode_to_vec(event);
    let length = (data.len() as u64).to_le_bytes();
    let mut out = Vec::with_capacity(data.len() + 16);
    out.extend_from_slice(&length);
    out.extend_from_slice(&masked_crc(&length).to_le_bytes());
    out.extend_from_slice(&data);
    out.extend_from_slice(&masked_crc(&data).to_le_bytes());
    out
}

/// The events of an event file, every checksum verified.
pub fn read_events(bytes: &[u8]) -> Result<Vec<Event>, String> {
    let mut events = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let field = |rest: &[u8], at: usize, n: usize| rest.get(at..at + n).map(<[u8]>::to_vec).ok_or("a truncated record");
        let length_bytes = field(rest, 0, 8)?;
        let length_crc = u32::from_le_bytes(field(rest, 8, 4)?.try_into().unwrap());
        if masked_crc(&length_bytes) != length_crc {
            return Err(format!("a record's length checksum is wrong after {} events", events.len()));
        }
        let length = u64::from_le_bytes(length_bytes.try_into().unwrap()) as usize;
        let data = field(rest, 12, length)?;
        let data_crc = u32::from_le_bytes(field(rest, 12 + length, 4)?.try_into().unwrap());
        if masked_crc(&data) != data_crc {
            return Err(format!("a record's data checksum is wrong after {} events", events.len()));
        }
        events.push(<Event as prost::Message>::decode(data.as_slice()).map_err(|e| format!("a record is not an Event: {e}"))?);
        rest = &rest[16 + length..];
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &[u8] = include_bytes!("../../tests/parity/tensorboard_events.bin");
    const PNG: &[u8] = include_bytes!("../../tests/parity/tensorboard_events.png");

    fn scalar(wall_time: f64, step: i64, tag: &str, v: f32) -> Event {
        let value = vec![Value { tag: tag.into(), data: Some(Data::SimpleValue(v)) }];
        Event { wall_time, step, what: Some(What::Summary(Summary { value })) }
    }

    fn fixture_events() -> Vec<Event> {
        let image = Image { height: 1, width: 1, colorspace: 3, encoded_image_string: PNG.to_vec() };
        vec![
            Event { wall_time: 1.5, step: 0, what: Some(What::FileVersion(FILE_VERSION.into())) },
            scalar(2.25, 7, "train/loss", 0.125),
            // A zero loss must still be written (a oneof keeps zero values).
            scalar(3.0, 0, "val/loss", 0.0),
            Event {
                wall_time: 4.0,
                step: 8,
                what: Some(What::Summary(Summary { value: vec![Value { tag: "samples".into(), data: Some(Data::Image(image)) }] })),
            },
            Event { wall_time: 5.0, step: 9, what: Some(What::SessionLog(SessionLog { status: SESSION_START })) },
        ]
    }

    #[test]
    fn records_equal_tensorboards_own_writer_byte_for_byte() {
        let ours: Vec<u8> = fixture_events().iter().flat_map(record).collect();
        assert_eq!(ours, FIXTURE);
        assert_eq!(read_events(FIXTURE).unwrap(), fixture_events());
    }

    #[test]
    fn damaged_files_are_refused() {
        let mut flipped = FIXTURE.to_vec();
        flipped[40] ^= 1;
        assert!(read_events(&flipped).unwrap_err().contains("checksum"));
        assert!(read_events(&FIXTURE[..FIXTURE.len() - 3]).unwrap_err().contains("truncated"));
    }

    #[test]
    fn writer_starts_with_the_file_version_and_appends_summaries() {
        let dir = std::env::temp_dir().join(format!("fabnet-tb-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut writer = EventWriter::create(&dir).unwrap();
        writer.scalars(3, &[("train/loss", 0.5), ("train/lr", 1e-3)]).unwrap();
        writer.png(3, "samples", PNG, 1, 1).unwrap();
        writer.flush().unwrap();
        let name = writer.path().file_name().unwrap().to_str().unwrap().to_owned();
        assert!(name.starts_with("events.out.tfevents."), "{name}");
        let events = read_events(&std::fs::read(writer.path()).unwrap()).unwrap();
        // A second writer in the same second (a resumed run) still sorts after the first.
        let second = EventWriter::create(&dir).unwrap();
        assert!(second.path().file_name().unwrap().to_str().unwrap() > name.as_str());
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(events.len(), 3);
        assert_eq!(events[0].what, Some(What::FileVersion(FILE_VERSION.into())));
        let Some(What::Summary(summary)) = &events[1].what else { panic!("not a summary: {:?}", events[1]) };
        assert_eq!(events[1].step, 3);
        let tags: Vec<_> = summary.value.iter().map(|v| (v.tag.as_str(), v.data.clone())).collect();
        assert_eq!(tags, vec![("train/loss", Some(Data::SimpleValue(0.5))), ("train/lr", Some(Data::SimpleValue(1e-3)))]);
    }
}
