//! Any datagram a phone (or anyone) could send to the edge's UDP port: the
//! screen in front of the SIP stack never panics, and what it answers is a
//! small final response of text lines.
#![no_main]

use callgrid_sip::screen::{Verdict, screen};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|datagram: &[u8]| {
    if let Verdict::Refuse(answer) = screen(datagram) {
        assert!(answer.len() <= 2 * datagram.len());
        let statuses: [&[u8]; 3] = [b"SIP/2.0 400 ", b"SIP/2.0 501 ", b"SIP/2.0 513 "];
        assert!(statuses.iter().any(|s| answer.starts_with(s)));
    }
});
