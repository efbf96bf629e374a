//! `--no-convert` copies through the supervisor, the script and the helpers
//! run by hand: identical, sparse targets; the source untouched.

use crate::common::*;
use std::fs;
use std::path::Path;
use std::process::Command;
use v2v_tests::*;

/// The target holds exactly the source's guest data and stays sparse.
fn assert_good_target(src: &Path, raw: &Path, target: &Path) {
    qemu_img_identical(src, target).unwrap();
    let (a_src, a_dst) = (allocated(raw), allocated(target));
    assert!(
        a_dst <= a_src + (2 << 20),
        "{} is not sparse: {a_dst} bytes allocated, the source has {a_src}",
        target.display()
    );
}

#[test]
fn no_convert_raw_and_qcow2_supervisor_and_script_agree() {
    let sb = Sandbox::new("copy");
    let raw = sb.path("guest.raw");
    make_ext4_disk(&raw, 64, 1);
    let qcow2 = sb.path("guest.qcow2");
    qemu_img_convert(&raw, &qcow2, "qcow2");
    let before = [sha256(&raw), sha256(&qcow2)];

    for (src, tag) in [(&raw, "raw"), (&qcow2, "qcow2")] {
        let src_s = src.to_str().unwrap();
        let args = ["--no-convert", "-i", "disk", src_s];
        let a = run_local(&sb, sb.virt_v2v(), &args, &sb.path(&format!("out-{tag}")));
        let targets = a.targets();
        assert_eq!(targets.len(), 1);
        assert_eq!(targets[0], a.out.join("guest-sda"));
        assert_good_target(src, &raw, &targets[0]);
        assert_eq!(
            done_steps(&a.dir),
            ["cleanup", "copy", "input", "output-final", "output-setup"],
            "--no-convert must not run convert"
        );

        let b = run_local(&sb, sb.script(), &args, &sb.path(&format!("out-{tag}-sh")));
        assert_good_target(src, &raw, &b.targets()[0]);
        assert_same_result(&a, &b, true);
    }
    assert_eq!(
        [sha256(&raw), sha256(&qcow2)],
        before,
        "a source was modified"
    );
    assert!(wait_no_servers(
        sb.root().to_str().unwrap(),
        std::time::Duration::from_secs(5)
    )
    .is_empty());
}

/// The by-hand example of docs/contract.md: the fenced block after the
/// `<!-- by-hand-example -->` marker, run as it is with SRC and OUT set.
fn doc_example() -> String {
    let doc = fs::read_to_string(repo_root().join("docs/contract.md")).unwrap();
    let rest = doc
        .split("<!-- by-hand-example -->")
        .nth(1)
        .expect("docs/contract.md has a <!-- by-hand-example --> marker");
    let body = rest
        .split("```sh\n")
        .nth(1)
        .expect("```sh block after the marker");
    body.split("\n```").next().unwrap().to_string()
}

#[test]
fn helpers_by_hand_as_documented_give_the_same_result() {
    let sb = Sandbox::new("byhand");
    let raw = sb.path("guest.raw");
    make_ext4_disk(&raw, 64, 2);
    let sum = sha256(&raw);
    let a = run_local(
        &sb,
        sb.virt_v2v(),
        &["--no-convert", "-i", "disk", raw.to_str().unwrap()],
        &sb.path("out-v2v"),
    );

    let out = sb.path("out-hand");
    fs::create_dir_all(&out).unwrap();
    sb.clear_tmpdir();
    let script = doc_example();
    let r = run(sb
        .cmd("sh")
        .args(["-eu", "-c", &script])
        .env("SRC", &raw)
        .env("OUT", &out));
    assert_eq!(r.code, 0, "the documented example failed:\n{script}\n{r}");
    let dir = sb.run_dir();
    validate_run_dir(&dir);
    let b = Done { run: r, dir, out };
    assert_same_result(&a, &b, true);
    assert_eq!(sha256(&raw), sum);
    assert!(wait_no_servers(
        sb.root().to_str().unwrap(),
        std::time::Duration::from_secs(5)
    )
    .is_empty());
}

#[test]
fn two_disks_are_copied_at_the_same_time() {
    let sb = Sandbox::new("twodisks");
    let (a, b) = (sb.path("two.raw"), sb.path("two-b.raw"));
    for (p, seed) in [(&a, 3u64), (&b, 4)] {
        sparse_noise_image(p, 256 << 20, 8, 32 << 20, 8 << 20, seed * 100);
    }
    let d = run_local(
        &sb,
        sb.virt_v2v(),
        &[
            "--no-convert",
            "-i",
            "disk",
            a.to_str().unwrap(),
            b.to_str().unwrap(),
        ],
        &sb.path("out"),
    );
    let t = d.targets();
    assert_eq!(t, [d.out.join("two-sda"), d.out.join("two-sdb")]);
    qemu_img_identical(&a, &t[0]).unwrap();
    qemu_img_identical(&b, &t[1]).unwrap();

    let ev = events(&d.run.stdout);
    let pos = |kind: &str, disk: u64| {
        ev.iter()
            .position(|e| e["event"] == kind && e["disk"] == disk)
            .unwrap_or_else(|| panic!("no {kind} event for disk {disk}:\n{}", d.run.stdout))
    };
    let last_start = pos("disk-started", 1).max(pos("disk-started", 2));
    let first_finish = pos("disk-finished", 1).min(pos("disk-finished", 2));
    assert!(
        last_start < first_finish,
        "disks were not in flight together:\n{}",
        d.run.stdout
    );
}

#[test]
fn qcow2_target_and_preallocated() {
    let sb = Sandbox::new("formats");
    let raw = sb.path("fmt.raw");
    make_ext4_disk(&raw, 64, 5);
    let src = raw.to_str().unwrap();
    let d = run_local(
        &sb,
        sb.virt_v2v(),
        &[
            "--no-convert",
            "-i",
            "disk",
            src,
            "-of",
            "qcow2",
            "-on",
            "renamed",
        ],
        &sb.path("out-q"),
    );
    let t = &d.targets()[0];
    assert_eq!(t, &d.out.join("renamed-sda"));
    let info = run(Command::new("qemu-img").arg("info").arg(t));
    assert!(info.stdout.contains("file format: qcow2"), "{info}");
    qemu_img_identical(&raw, t).unwrap();

    let d = run_local(
        &sb,
        sb.virt_v2v(),
        &["--no-convert", "-i", "disk", src, "-oa", "preallocated"],
        &sb.path("out-p"),
    );
    let t = &d.targets()[0];
    qemu_img_identical(&raw, t).unwrap();
    assert!(allocated(t) >= 64 << 20, "-oa preallocated left holes");
}
