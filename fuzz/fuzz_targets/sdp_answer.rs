//! Any two session descriptions a phone could send: the edge's answerer
//! (which joins a picker to a waiting caller) never panics, and an answer
//! it gives has one media line per offered line.
#![no_main]

use callgrid_sip::sdp::{answer_from, with_direction};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (&str, &str)| {
    let (offer, other) = input;
    if let Ok(answer) = answer_from(offer, other, 1) {
        let offered = offer.lines().filter(|l| l.trim_end().starts_with("m=")).count();
        let answered = answer.lines().filter(|l| l.starts_with("m=")).count();
        assert_eq!(offered, answered);
    }
    let _ = with_direction(offer, "inactive");
});
