//! pcap export: one classic pcap file (Ethernet link type) per host with every frame the host
//! sent (after its egress filter) or received (after its ingress filter), stamped with global
//! sim time. Wireshark and tshark open them.

use crate::world::{HostId, World};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

pub(crate) struct PcapWriter {
    out: BufWriter<File>,
    failed: bool,
}

impl PcapWriter {
    pub(crate) fn create(path: &Path) -> io::Result<PcapWriter> {
        let mut out = BufWriter::new(File::create(path)?);
        // Magic (microsecond timestamps), version 2.4, thiszone 0, sigfigs 0, snaplen, LINKTYPE_ETHERNET.
        out.write_all(&0xa1b2_c3d4u32.to_le_bytes())?;
        out.write_all(&2u16.to_le_bytes())?;
        out.write_all(&4u16.to_le_bytes())?;
        out.write_all(&0i32.to_le_bytes())?;
        out.write_all(&0u32.to_le_bytes())?;
        out.write_all(&65_535u32.to_le_bytes())?;
        out.write_all(&1u32.to_le_bytes())?;
        Ok(PcapWriter { out, failed: false })
    }

    fn write(&mut self, t_ns: u64, frame: &[u8]) {
        if self.failed {
            return;
        }
        let snap = frame.len().min(65_535);
        let r = (|| {
            self.out
                .write_all(&((t_ns / 1_000_000_000) as u32).to_le_bytes())?;
            self.out
                .write_all(&((t_ns / 1000 % 1_000_000) as u32).to_le_bytes())?;
            self.out.write_all(&(snap as u32).to_le_bytes())?;
            self.out.write_all(&(frame.len() as u32).to_le_bytes())?;
            self.out.write_all(&frame[..snap])
        })();
        if let Err(e) = r {
            eprintln!("testbed-sim: pcap write failed, capture stopped: {e}");
            self.failed = true;
        }
    }

    pub(crate) fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

impl World {
    pub(crate) fn pcap_record(&mut self, host: HostId, frame: &[u8]) {
        let t = self.now.as_nanos();
        if let Some(p) = self.hosts[host as usize].pcap.as_mut() {
            p.write(t, frame);
        }
    }

    /// Starts a capture per host into `dir/<host>.pcap`.
    pub(crate) fn start_pcap(&mut self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)?;
        for h in &mut self.hosts {
            h.pcap = Some(PcapWriter::create(&dir.join(format!("{}.pcap", h.name)))?);
        }
        Ok(())
    }

    pub(crate) fn flush_pcaps(&mut self) -> io::Result<()> {
        for h in &mut self.hosts {
            if let Some(p) = h.pcap.as_mut() {
                p.flush()?;
            }
        }
        Ok(())
    }
}
