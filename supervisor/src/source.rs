//! `--print-source`: the source guest in human form.

use std::fmt::Write;
use v2v_meta::Source;

fn word<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => "?".into(),
    }
}

/// virt-v2v's `--print-source` layout.
pub fn human(s: &Source) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "Source guest information (--print-source option):\n");
    let _ = writeln!(o, "    source name: {}", s.name);
    let _ = writeln!(
        o,
        "hypervisor type: {}",
        s.hypervisor.as_deref().unwrap_or("unknown")
    );
    let _ = writeln!(
        o,
        "         origin: -i {} {}",
        s.origin.input_type,
        s.origin.location.join(" ")
    );
    let _ = writeln!(o, "         memory: {} (bytes)", s.memory_bytes);
    let _ = writeln!(o, "       nr vCPUs: {}", s.vcpus);
    if let Some(v) = &s.cpu.vendor {
        let _ = writeln!(o, "     CPU vendor: {v}");
    }
    if let Some(m) = &s.cpu.model {
        let _ = writeln!(o, "      CPU model: {m}");
    }
    if let Some(t) = &s.cpu.topology {
        let _ = writeln!(
            o,
            "   CPU topology: sockets: {} cores/socket: {} threads/core: {}",
            t.sockets, t.cores, t.threads
        );
    }
    let _ = writeln!(
        o,
        "       firmware: {}{}",
        word(&s.firmware),
        if s.secure_boot { " (secure boot)" } else { "" }
    );
    if let Some(h) = &s.os_hint {
        let _ = writeln!(o, "        OS hint: {h}");
    }
    if let Some(v) = &s.video {
        let _ = writeln!(o, "          video: {v}");
    }
    if let Some(v) = &s.sound {
        let _ = writeln!(o, "          sound: {v}");
    }
    let _ = writeln!(o, "disks:");
    for d in &s.disks {
        let bus = d
            .bus
            .map(|b| format!(" [{}]", word(&b)))
            .unwrap_or_default();
        let _ = writeln!(
            o,
            "\t{} [{}] {} ({} bytes){bus}",
            d.socket, d.format, d.source, d.size
        );
    }
    let _ = writeln!(o, "removable media:");
    for r in &s.removables {
        let bus = r
            .bus
            .map(|b| format!(" [{}]", word(&b)))
            .unwrap_or_default();
        let _ = writeln!(o, "\t{}{bus}", word(&r.kind));
    }
    let _ = writeln!(o, "NICs:");
    for n in &s.nics {
        let _ = writeln!(
            o,
            "\t{} \"{}\" mac: {} [{}]",
            word(&n.network_kind),
            n.network.as_deref().unwrap_or(""),
            n.mac.as_deref().unwrap_or("unknown"),
            n.model.as_deref().unwrap_or("unknown")
        );
    }
    o
}

#[cfg(test)]
mod tests {
    #[test]
    fn layout() {
        let m: v2v_meta::MetadataIn = serde_json::from_value(serde_json::json!({
            "version": 1,
            "source": {
                "name": "g", "origin": {"input_type": "disk", "location": ["/a.img"]},
                "memory_bytes": 2147483648u64, "vcpus": 2,
                "disks": [{"index": 1, "socket": "in1", "format": "qcow2", "size": 1048576,
                           "bus": "sata", "source": "/a.img"}],
                "nics": [{"mac": "52:54:00:01:02:03", "network": "default", "model": "e1000"}]
            }
        }))
        .unwrap();
        let h = super::human(&m.source);
        assert!(h.starts_with("Source guest information"));
        assert!(h.contains("    source name: g\n"), "{h}");
        assert!(h.contains("         origin: -i disk /a.img\n"), "{h}");
        assert!(h.contains("       firmware: unknown\n"), "{h}");
        assert!(
            h.contains("disks:\n\tin1 [qcow2] /a.img (1048576 bytes) [sata]\n"),
            "{h}"
        );
        assert!(
            h.contains("\tnetwork \"default\" mac: 52:54:00:01:02:03 [e1000]\n"),
            "{h}"
        );
    }
}
