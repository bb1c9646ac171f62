//! WebCodecs codec strings from the configuration records containers carry
//! (the formats are those of ISO/IEC 14496-15, the VP codec ISO-BMFF binding and the AV1 one).

/// VP9 profile 0, level 1, 8 bits: what a WebM without VP9's codec features (MediaRecorder's)
/// is taken as; decoders read the real profile from the bitstream.
pub const VP9_DEFAULT: &str = "vp09.00.10.08";

/// `avc1.PPCCLL` from an avcC record: profile, constraint flags, level (`name`: the sample
/// entry, avc1 or avc3).
pub fn avc(name: &str, avcc: &[u8]) -> Option<String> {
    let b = avcc.get(1..4)?;
    Some(format!("{name}.{:02x}{:02x}{:02x}", b[0], b[1], b[2]))
}

/// `hvc1.1.6.L93.B0` from an hvcC record (`name` is the sample entry, hvc1 or hev1).
pub fn hevc(name: &str, hvcc: &[u8]) -> Option<String> {
    let b = hvcc.get(..13)?;
    let space = ["", "A", "B", "C"][(b[1] >> 6) as usize];
    let tier = if b[1] & 0x20 != 0 { 'H' } else { 'L' };
    let profile = b[1] & 0x1f;
    let compatibility = u32::from_be_bytes([b[2], b[3], b[4], b[5]]).reverse_bits();
    let mut constraints: Vec<u8> = b[6..12].to_vec();
    while constraints.last() == Some(&0) {
        constraints.pop();
    }
    let mut s = format!("{name}.{space}{profile}.{compatibility:x}.{tier}{}", b[12]);
    for c in constraints {
        s.push_str(&format!(".{c:X}"));
    }
    Some(s)
}

/// `vp09.PP.LL.DD` from a vpcC full box.
pub fn vp9_from_vpcc(vpcc: &[u8]) -> Option<String> {
    let b = vpcc.get(4..7)?;
    Some(format!("vp09.{:02}.{:02}.{:02}", b[0], b[1], b[2] >> 4))
}

/// `av01.P.LLT.DD` from an av1C record.
pub fn av1(av1c: &[u8]) -> Option<String> {
    let b = av1c.get(..3)?;
    let profile = b[1] >> 5;
    let level = b[1] & 0x1f;
    let tier = if b[2] & 0x80 != 0 { 'H' } else { 'M' };
    let depth = match (b[2] & 0x40 != 0, b[2] & 0x20 != 0) {
        (false, _) => 8,
        (true, true) if profile == 2 => 12,
        (true, _) => 10,
    };
    Some(format!("av01.{profile}.{level:02}{tier}.{depth:02}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codec_strings_follow_their_records() {
        // High profile, level 3.0 (carphone as ffmpeg's libx264 writes it).
        assert_eq!(avc("avc1", &[1, 0x64, 0x00, 0x1e, 0xff]).unwrap(), "avc1.64001e");
        // Main profile, level 3.1, general compatibility flag 1 and 2, progressive source.
        let hvcc = [1, 0x01, 0x60, 0, 0, 0, 0x90, 0, 0, 0, 0, 0, 93];
        assert_eq!(hevc("hvc1", &hvcc).unwrap(), "hvc1.1.6.L93.90");
        assert_eq!(vp9_from_vpcc(&[1, 0, 0, 0, 0, 31, 0x80]).unwrap(), "vp09.00.31.08");
        // Main profile, level 4.0 (index 8), main tier, 8 bits.
        assert_eq!(av1(&[0x81, 0x08, 0x0c]).unwrap(), "av01.0.08M.08");
        assert!(avc("avc1", &[1, 0x64]).is_none(), "a short record is refused, not read past");
    }
}
