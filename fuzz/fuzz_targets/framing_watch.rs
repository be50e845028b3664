//! The request smuggling watch on any byte stream: `framing::FramingWatch`.
//!
//! Input: two bytes giving where to cut the stream into three reads, then
//! the stream itself.
//!
//! Properties: nothing panics, and the verdict (flagged or not) does not
//! depend on how the stream was cut into reads.

#![no_main]

use libfuzzer_sys::fuzz_target;
use zenko_signing_proxy::framing::FramingWatch;

fuzz_target!(|data: &[u8]| {
    let [first, second, stream @ ..] = data else {
        return;
    };
    let whole = verdict(&[stream]);
    let cut = |at: u8| stream.len() * usize::from(at) / 255;
    let (a, b) = (cut(*first).min(cut(*second)), cut(*first).max(cut(*second)));
    let pieces = verdict(&[&stream[..a], &stream[a..b], &stream[b..]]);
    assert_eq!(whole, pieces, "cut at {a} and {b}");
    let bytewise: Vec<&[u8]> = stream.chunks(1).collect();
    assert_eq!(whole, verdict(&bytewise), "fed byte by byte");
});

fn verdict(reads: &[&[u8]]) -> bool {
    let mut watch = FramingWatch::new(64);
    for read in reads {
        watch.feed(read);
    }
    watch.is_flagged()
}
