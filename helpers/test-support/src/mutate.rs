//! Mutated inputs for property tests of the parsers (issue 11): a valid
//! seed document changed by a few random edits — bytes flipped, ranges
//! deleted or repeated, markup tokens, control characters and huge numbers
//! spliced in — so that most cases still get past the first line of the
//! parser and reach its deeper paths.  Also [`within`], which bounds the
//! time a parser may take on one case.

use proptest::prelude::*;
use std::time::Duration;

/// Fragments that mean something to some parser (XML, VMX, JSON,
/// manifests, VMDK descriptors, tar headers).
const TOKENS: &[&str] = &[
    "<",
    ">",
    "</",
    "/>",
    "<!--",
    "-->",
    "<![CDATA[",
    "]]>",
    "<!DOCTYPE x [<!ENTITY e \"ee\">]>",
    "&amp;",
    "&e;",
    "&#0;",
    "&#x110000;",
    "\"",
    "'",
    "=",
    " = ",
    "\n",
    "\r\n",
    "\0",
    "\u{feff}",
    "|22",
    "|00",
    "#",
    "{",
    "}",
    "[",
    "]",
    ":",
    ",",
    "null",
    "-1",
    "1e999",
    "18446744073709551616",
    "99999999999999999999999999",
    "ovf:/disk/",
    "../",
    "/",
    "json:",
    "SHA256(",
    ")= ",
    "RW ",
    " FLAT ",
    " SPARSE ",
    "\"version\": 2",
    "\u{ff}",
    "\u{10ffff}",
];

/// One edit of a document.
#[derive(Debug, Clone)]
enum Edit {
    Flip(usize, u8),
    Delete(usize, usize),
    Repeat(usize, usize, usize),
    Insert(usize, Vec<u8>),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Edit::Flip(at, b)),
        (any::<usize>(), 1usize..64).prop_map(|(at, n)| Edit::Delete(at, n)),
        (any::<usize>(), 1usize..32, 2usize..64).prop_map(|(at, n, k)| Edit::Repeat(at, n, k)),
        (any::<usize>(), prop::sample::select(TOKENS))
            .prop_map(|(at, t)| Edit::Insert(at, t.as_bytes().to_vec())),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(at, v)| Edit::Insert(at, v)),
    ]
}

fn apply(mut doc: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let len = doc.len().max(1);
        match e {
            Edit::Flip(at, b) => {
                if !doc.is_empty() {
                    let i = at % doc.len();
                    doc[i] ^= b | 1;
                }
            }
            Edit::Delete(at, n) => {
                let i = at % len;
                let j = (i + n).min(doc.len());
                if i < j {
                    doc.drain(i..j);
                }
            }
            Edit::Repeat(at, n, k) => {
                let i = at % len;
                let j = (i + n).min(doc.len());
                if i < j {
                    let piece = doc[i..j].repeat(*k);
                    doc.splice(j..j, piece);
                }
            }
            Edit::Insert(at, v) => {
                let i = (at % (doc.len() + 1)).min(doc.len());
                doc.splice(i..i, v.iter().copied());
            }
        }
    }
    doc
}

/// `seed` with 1 to 8 random edits.
pub fn mutated(seed: &[u8]) -> impl Strategy<Value = Vec<u8>> {
    let seed = seed.to_vec();
    prop::collection::vec(edit(), 1..8).prop_map(move |edits| apply(seed.clone(), &edits))
}

/// [`mutated`], as text (invalid UTF-8 replaced): for parsers of `&str`.
pub fn mutated_text(seed: &str) -> impl Strategy<Value = String> {
    mutated(seed.as_bytes()).prop_map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// How many cases each property runs: `PROPTEST_CASES`, default 256 (a
/// few seconds per parser in CI).
pub fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(256);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Most CPU time one parser call may take on one mutated case (a debug
/// build): a parser that loops or blows up fails here.  CPU time of the
/// calling thread, not wall time, so that a loaded machine (CI, TCG
/// guests beside) does not fail a fast parser.
pub const PER_CASE: Duration = Duration::from_secs(2);

/// CPU time used so far by the calling thread.
pub fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_THREAD_CPUTIME_ID
    // is always supported on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Run `f` (a parser's verdict, whatever it is, is dropped: only a panic
/// or the time counts), and fail the case if it used more than
/// [`PER_CASE`] of CPU.
pub fn within<T>(what: &str, f: impl FnOnce() -> T) -> Result<(), TestCaseError> {
    let t = thread_cpu_time();
    drop(f());
    let took = thread_cpu_time().saturating_sub(t);
    prop_assert!(took <= PER_CASE, "{what} took {took:?} of CPU");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_counts_work_not_sleep() {
        let t = thread_cpu_time();
        std::thread::sleep(Duration::from_millis(200));
        assert!(thread_cpu_time() - t < Duration::from_millis(100));
        let t = thread_cpu_time();
        let mut x = 0u64;
        while thread_cpu_time() - t < Duration::from_millis(20) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        assert!(x > 0);
    }

    #[test]
    fn edits_stay_in_bounds() {
        let e = [
            Edit::Flip(usize::MAX, 0),
            Edit::Delete(usize::MAX, 63),
            Edit::Repeat(5, 31, 3),
            Edit::Insert(usize::MAX, b"<>".to_vec()),
        ];
        assert_eq!(apply(Vec::new(), &e), b"<>");
        assert_eq!(apply(b"abc".to_vec(), &[Edit::Repeat(1, 1, 3)]), b"abbbbc");
        assert_eq!(apply(b"abc".to_vec(), &[Edit::Delete(1, 5)]), b"a");
    }
}
