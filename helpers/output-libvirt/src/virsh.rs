//! The libvirt client layer: `virsh -c URI ...` subprocesses, each bounded
//! in time, with errors that name the connection.  Nothing else in this
//! crate talks to libvirt.

use helper_common::{Failure, Result};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long one `virsh` call may take.  Local daemons answer in
/// milliseconds; the bound is for a remote URI (`qemu+ssh://`) whose host
/// does not answer.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// One libvirt connection, by URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Virsh {
    pub uri: String,
}

/// What `-o libvirt` needs to know about a storage pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    pub name: String,
    /// `<pool type='...'>`: `dir`, `fs`, `logical`, ...
    pub kind: String,
    /// `<target><path>`, when the pool has one.
    pub path: Option<PathBuf>,
}

impl Virsh {
    pub fn new(uri: &str) -> Self {
        Virsh { uri: uri.into() }
    }

    /// `virsh -q -c URI ARGS...`: its stdout.  A failure (exit 4) names the
    /// URI and quotes virsh's error.
    pub fn run(&self, args: &[&str]) -> Result<String> {
        let mut argv: Vec<&str> = vec!["-q", "-c", &self.uri];
        argv.extend_from_slice(args);
        let out = helper_common::run_cmd_within("virsh", &argv, TIMEOUT)
            .map_err(|f| f.context(format!("libvirt {}", self.uri)))?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Connect once (`virsh uri`): a clear error when the daemon is not there.
    pub fn connect(&self) -> Result<()> {
        self.run(&["uri"]).map(drop).map_err(|f| {
            Failure::external(format!(
                "cannot connect to libvirt at -oc {}: {}",
                self.uri,
                virsh_error(&f.message)
            ))
            .cause(f.causes.join(" "))
        })
    }

    /// The names of every domain, defined or running.
    pub fn domains(&self) -> Result<Vec<String>> {
        Ok(lines(&self.run(&["list", "--all", "--name"])?))
    }

    /// Pool `name`, or `None` when the connection has no such pool.
    pub fn pool(&self, name: &str) -> Result<Option<Pool>> {
        let names = lines(&self.run(&["pool-list", "--all", "--name"])?);
        if !names.iter().any(|n| n == name) {
            return Ok(None);
        }
        let xml = self.run(&["pool-dumpxml", "--pool", name])?;
        parse_pool(name, &xml).map(Some)
    }

    /// Whether pool `name` is active (started).
    pub fn pool_active(&self, name: &str) -> Result<bool> {
        Ok(lines(&self.run(&["pool-list", "--name"])?)
            .iter()
            .any(|n| n == name))
    }

    /// Make libvirt reread the pool's directory.
    pub fn pool_refresh(&self, pool: &str) -> Result<()> {
        self.run(&["pool-refresh", "--pool", pool]).map(drop)
    }

    /// `vol-create-as`: a new volume of `size` bytes, all allocated or none.
    pub fn vol_create(
        &self,
        pool: &str,
        vol: &str,
        size: u64,
        format: &str,
        preallocated: bool,
    ) -> Result<()> {
        let size = size.to_string();
        let alloc = if preallocated { size.as_str() } else { "0" };
        let mut args = vec![
            "vol-create-as",
            "--pool",
            pool,
            "--name",
            vol,
            "--capacity",
            &size,
            "--allocation",
            alloc,
            "--format",
            format,
        ];
        // Without it libvirt ignores --allocation for qcow2 (falloc when
        // the allocation is the capacity).
        if preallocated && format == "qcow2" {
            args.push("--prealloc-metadata");
        }
        self.run(&args).map(drop)
    }

    /// The file of volume `vol`.
    pub fn vol_path(&self, pool: &str, vol: &str) -> Result<PathBuf> {
        let out = self.run(&["vol-path", "--pool", pool, vol])?;
        Ok(PathBuf::from(out.trim_end_matches('\n')))
    }

    pub fn vol_delete(&self, pool: &str, vol: &str) -> Result<()> {
        self.run(&["vol-delete", "--pool", pool, vol]).map(drop)
    }

    /// The hypervisor's capabilities XML.
    pub fn capabilities(&self) -> Result<String> {
        self.run(&["capabilities"])
    }

    /// Define a domain from the XML in file `xml`.
    pub fn define(&self, xml: &Path) -> Result<()> {
        let xml = xml.to_string_lossy();
        self.run(&["define", "--file", &xml]).map(drop)
    }
}

/// The names of a `virsh --name` listing (one a line, padded with blanks).
fn lines(out: &str) -> Vec<String> {
    out.lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// virsh's own error text from a failed call's message (its `error:`
/// lines, joined), or the message itself.
pub fn virsh_error(message: &str) -> String {
    let errs: Vec<&str> = message
        .split(" / ")
        .filter_map(|l| l.find("error: ").map(|i| l[i + 7..].trim()))
        .collect();
    if errs.is_empty() {
        message.to_string()
    } else {
        errs.join(": ")
    }
}

/// A pool from its `pool-dumpxml`.
pub fn parse_pool(name: &str, xml: &str) -> Result<Pool> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| {
        Failure::external(format!(
            "pool {name}: libvirt returned XML we cannot read: {e}"
        ))
    })?;
    let root = doc.root_element();
    let kind = root.attribute("type").unwrap_or_default().to_string();
    let path = root
        .children()
        .find(|n| n.has_tag_name("target"))
        .and_then(|t| t.children().find(|n| n.has_tag_name("path")))
        .and_then(|p| p.text())
        .map(|t| PathBuf::from(t.trim()));
    Ok(Pool {
        name: name.into(),
        kind,
        path,
    })
}

/// The `<domain type>` the hypervisor offers for `arch`: `kvm` when its
/// capabilities list it, else `qemu` (TCG), else `None`.
pub fn domain_type(capabilities: &str, arch: &str) -> Option<&'static str> {
    let doc = roxmltree::Document::parse(capabilities).ok()?;
    let types: Vec<&str> = doc
        .root_element()
        .children()
        .filter(|g| g.has_tag_name("guest"))
        .filter_map(|g| g.children().find(|a| a.has_tag_name("arch")))
        .filter(|a| a.attribute("name") == Some(arch))
        .flat_map(|a| a.children().filter(|d| d.has_tag_name("domain")))
        .filter_map(|d| d.attribute("type"))
        .collect();
    ["kvm", "qemu"].into_iter().find(|t| types.contains(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_are_read_from_their_xml() {
        let xml = "<pool type='dir'>\n  <name>p</name>\n  <target>\n    <path>/var/lib/libvirt/images</path>\n    <permissions><mode>0711</mode></permissions>\n  </target>\n</pool>\n";
        let p = parse_pool("p", xml).unwrap();
        assert_eq!(p.kind, "dir");
        assert_eq!(
            p.path.as_deref(),
            Some(Path::new("/var/lib/libvirt/images"))
        );
        let p = parse_pool("q", "<pool type='rbd'><name>q</name></pool>").unwrap();
        assert_eq!((p.kind.as_str(), p.path), ("rbd", None));
        assert_eq!(parse_pool("r", "<pool").unwrap_err().code, 4);
    }

    #[test]
    fn domain_type_follows_capabilities() {
        let caps = |domains: &str| {
            format!(
                "<capabilities><host/><guest><os_type>hvm</os_type>\
                 <arch name='i686'><domain type='kvm'/></arch></guest>\
                 <guest><os_type>hvm</os_type><arch name='x86_64'>\
                 <machine>pc</machine>{domains}</arch></guest></capabilities>"
            )
        };
        let tcg = caps("<domain type='qemu'/>");
        assert_eq!(domain_type(&tcg, "x86_64"), Some("qemu"));
        let kvm = caps("<domain type='qemu'/><domain type='kvm'/>");
        assert_eq!(domain_type(&kvm, "x86_64"), Some("kvm"));
        assert_eq!(domain_type(&tcg, "aarch64"), None);
        assert_eq!(domain_type("not xml", "x86_64"), None);
    }

    #[test]
    fn virsh_errors_are_extracted() {
        let m = "virsh failed (exit status: 1): error: failed to connect to the hypervisor / \
                 error: Failed to connect socket to '/x/sock': No such file or directory";
        assert_eq!(
            virsh_error(m),
            "failed to connect to the hypervisor: Failed to connect socket to '/x/sock': No such file or directory"
        );
        assert_eq!(virsh_error("virsh did not finish"), "virsh did not finish");
    }
}
