//! Joining two phones' offers (RFC 3264), for a pickup or a retrieve.
//!
//! The edge relays SDP and never touches media. A plain call relays the
//! caller's offer to the callee and the callee's answer back. A pickup is
//! different: the caller's INVITE is still waiting with its offer, and the
//! picker arrives with an INVITE carrying its own offer. Neither phone will
//! answer the other's offer, so the edge answers each one *from the other's
//! offer*: the answer to the caller names the picker's address and port and
//! the codecs both offered (in the caller's payload numbers), and the answer
//! to the picker the same the other way round. RTP then flows phone to
//! phone.
//!
//! Only what an answer needs is read: `c=`, `m=`, `a=rtpmap`, `a=fmtp`,
//! `a=ptime` and the direction attributes. Anything else is not copied.

use std::fmt::Write;

/// Why an offer could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    #[error("sdp: no connection address (c=) for media {0}")]
    NoConnection(usize),
    #[error("sdp: malformed line {0:?}")]
    Malformed(String),
    #[error("sdp: no media (m=) line")]
    NoMedia,
}

/// One media description of an offer.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Media {
    kind: String,
    port: u16,
    proto: String,
    formats: Vec<String>,
    /// `a=` lines of this section, without the `a=`.
    attributes: Vec<String>,
    address: String,
}

impl Media {
    /// The `a=<name>:<fmt> ...` value for `fmt`, if present.
    fn format_attribute(&self, name: &str, fmt: &str) -> Option<&str> {
        self.attributes.iter().find_map(|a| {
            let rest = a.strip_prefix(name)?.strip_prefix(':')?;
            let (f, value) = rest.split_once(' ').unwrap_or((rest, ""));
            (f == fmt).then_some(value)
        })
    }

    /// The codec a payload number stands for: `PCMU/8000`, lower-cased.
    /// Static numbers without an rtpmap are named by RFC 3551.
    fn codec(&self, fmt: &str) -> Option<String> {
        if let Some(map) = self.format_attribute("rtpmap", fmt) {
            let mut parts = map.split('/');
            let name = parts.next()?.to_ascii_lowercase();
            let rate = parts.next().unwrap_or("");
            return Some(format!("{name}/{rate}"));
        }
        let name = match fmt {
            "0" => "pcmu/8000",
            "3" => "gsm/8000",
            "4" => "g723/8000",
            "8" => "pcma/8000",
            "9" => "g722/8000",
            "18" => "g729/8000",
            _ => return None,
        };
        Some(name.to_owned())
    }

    fn direction(&self) -> &str {
        self.attributes
            .iter()
            .map(String::as_str)
            .find(|a| matches!(*a, "sendrecv" | "sendonly" | "recvonly" | "inactive"))
            .unwrap_or("sendrecv")
    }
}

fn parse(sdp: &str) -> Result<Vec<Media>, SdpError> {
    let mut session_address: Option<String> = None;
    let mut media: Vec<Media> = Vec::new();
    let mut addresses: Vec<Option<String>> = Vec::new();
    for line in sdp.lines().map(str::trim_end).filter(|l| !l.is_empty()) {
        let (kind, value) = line
            .split_once('=')
            .ok_or_else(|| SdpError::Malformed(line.to_owned()))?;
        match kind {
            "c" => {
                let address = value
                    .split_whitespace()
                    .nth(2)
                    .ok_or_else(|| SdpError::Malformed(line.to_owned()))?
                    .split('/')
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                match addresses.last_mut() {
                    Some(slot) => *slot = Some(address),
                    None => session_address = Some(address),
                }
            }
            "m" => {
                let mut words = value.split_whitespace();
                let (Some(kind), Some(port), Some(proto)) =
                    (words.next(), words.next(), words.next())
                else {
                    return Err(SdpError::Malformed(line.to_owned()));
                };
                let port = port
                    .split('/')
                    .next()
                    .and_then(|p| p.parse().ok())
                    .ok_or_else(|| SdpError::Malformed(line.to_owned()))?;
                media.push(Media {
                    kind: kind.to_owned(),
                    port,
                    proto: proto.to_owned(),
                    formats: words.map(str::to_owned).collect(),
                    attributes: Vec::new(),
                    address: String::new(),
                });
                addresses.push(None);
            }
            "a" => {
                if let Some(m) = media.last_mut() {
                    m.attributes.push(value.to_owned());
                }
            }
            _ => {}
        }
    }
    if media.is_empty() {
        return Err(SdpError::NoMedia);
    }
    for (i, (m, address)) in media.iter_mut().zip(addresses).enumerate() {
        m.address = address
            .or_else(|| session_address.clone())
            .ok_or(SdpError::NoConnection(i))?;
    }
    Ok(media)
}

/// The answer to `offer` that sends its media to the phone that made
/// `other` (itself an offer): per media line of `offer`, the same kind of
/// media line of `other`, the codecs both list (in `offer`'s payload
/// numbers and order), `other`'s address and port. A media line with
/// nothing in common is rejected with port 0, as RFC 3264 §6 requires.
pub fn answer_from(offer: &str, other: &str, session_id: u64) -> Result<String, SdpError> {
    let offered = parse(offer)?;
    let theirs = parse(other)?;
    let mut used = vec![false; theirs.len()];
    let mut out = String::new();
    let first_address = &theirs[0].address;
    let ip = if first_address.contains(':') {
        "IP6"
    } else {
        "IP4"
    };
    let _ = write!(
        out,
        "v=0\r\no=callgrid {session_id} {session_id} IN {ip} {first_address}\r\ns=callgrid\r\nt=0 0\r\n"
    );
    for m in &offered {
        let partner = theirs
            .iter()
            .enumerate()
            .find(|(i, t)| !used[*i] && t.kind == m.kind && t.port != 0);
        let common: Vec<&String> = match partner {
            Some((_, t)) => m
                .formats
                .iter()
                .filter(|f| {
                    let codec = m.codec(f);
                    codec.is_some() && t.formats.iter().any(|g| t.codec(g) == codec)
                })
                .collect(),
            None => Vec::new(),
        };
        match partner {
            Some((i, t)) if !common.is_empty() => {
                used[i] = true;
                let formats: Vec<&str> = common.iter().map(|f| f.as_str()).collect();
                let ip = if t.address.contains(':') {
                    "IP6"
                } else {
                    "IP4"
                };
                let _ = write!(
                    out,
                    "m={} {} {} {}\r\nc=IN {ip} {}\r\n",
                    m.kind,
                    t.port,
                    m.proto,
                    formats.join(" "),
                    t.address
                );
                for f in &formats {
                    for name in ["rtpmap", "fmtp"] {
                        if let Some(value) = m.format_attribute(name, f) {
                            let _ = write!(out, "a={name}:{f} {value}\r\n");
                        }
                    }
                }
                if let Some(ptime) = t.attributes.iter().find(|a| a.starts_with("ptime:")) {
                    let _ = write!(out, "a={ptime}\r\n");
                }
                let _ = write!(out, "a={}\r\n", t.direction());
            }
            _ => {
                let fmt = m.formats.first().map(String::as_str).unwrap_or("0");
                let _ = write!(out, "m={} 0 {} {fmt}\r\n", m.kind, m.proto);
            }
        }
    }
    Ok(out)
}

/// The same description with every media line set to `direction` (for
/// hold, `inactive`), and the origin's version raised, as a changed offer
/// in the same session must (RFC 3264 §8).
pub fn with_direction(sdp: &str, direction: &str) -> String {
    let mut out = String::new();
    let mut in_media = false;
    for line in sdp.lines().map(str::trim_end).filter(|l| !l.is_empty()) {
        if matches!(
            line,
            "a=sendrecv" | "a=sendonly" | "a=recvonly" | "a=inactive"
        ) {
            continue;
        }
        if line.starts_with("m=") {
            if in_media {
                let _ = write!(out, "a={direction}\r\n");
            }
            in_media = true;
        }
        match line.strip_prefix("o=") {
            Some(origin) => {
                let mut words: Vec<String> = origin.split_whitespace().map(str::to_owned).collect();
                if let Some(version) = words.get_mut(2)
                    && let Ok(v) = version.parse::<u64>()
                {
                    *version = (v + 1).to_string();
                }
                let _ = write!(out, "o={}\r\n", words.join(" "));
            }
            None => {
                let _ = write!(out, "{line}\r\n");
            }
        }
    }
    if in_media {
        let _ = write!(out, "a={direction}\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CALLER: &str = "v=0\r\no=a 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
        m=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
        a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=sendrecv\r\n";
    const PICKER: &str = "v=0\r\no=c 2 2 IN IP4 10.0.0.3\r\ns=-\r\nc=IN IP4 10.0.0.3\r\nt=0 0\r\n\
        m=audio 6000 RTP/AVP 8 96\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:96 telephone-event/8000\r\n";

    #[test]
    fn the_answer_names_the_other_phones_address_and_the_common_codecs_in_the_offers_numbers() {
        let answer = answer_from(CALLER, PICKER, 7).expect("answer");
        assert!(
            answer.contains("m=audio 6000 RTP/AVP 8 101\r\n"),
            "{answer}"
        );
        assert!(answer.contains("c=IN IP4 10.0.0.3\r\n"), "{answer}");
        assert!(
            answer.contains("a=rtpmap:101 telephone-event/8000\r\n"),
            "{answer}"
        );
        assert!(answer.contains("a=fmtp:101 0-16\r\n"), "{answer}");
        assert!(!answer.contains("PCMU"), "{answer}");
        let back = answer_from(PICKER, CALLER, 7).expect("answer");
        assert!(back.contains("m=audio 4000 RTP/AVP 8 96\r\n"), "{back}");
        assert!(back.contains("c=IN IP4 10.0.0.1\r\n"), "{back}");
    }

    #[test]
    fn hold_marks_every_media_line_inactive_and_raises_the_origin_version() {
        let held = with_direction(CALLER, "inactive");
        assert!(held.contains("o=a 1 2 IN IP4 10.0.0.1\r\n"), "{held}");
        assert_eq!(held.matches("a=inactive").count(), 1, "{held}");
        assert!(!held.contains("a=sendrecv"), "{held}");
        assert!(held.ends_with("a=inactive\r\n"), "{held}");
    }

    #[test]
    fn media_with_nothing_in_common_is_rejected_with_port_0() {
        let video =
            "v=0\r\nc=IN IP4 10.0.0.9\r\nm=video 5000 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n";
        let answer = answer_from(video, PICKER, 1).expect("answer");
        assert!(answer.contains("m=video 0 RTP/AVP 96\r\n"), "{answer}");
    }

    #[test]
    fn an_offer_without_media_or_address_is_an_error() {
        assert_eq!(answer_from("v=0\r\n", PICKER, 1), Err(SdpError::NoMedia));
        assert_eq!(
            answer_from("v=0\r\nm=audio 1 RTP/AVP 0\r\n", PICKER, 1),
            Err(SdpError::NoConnection(0))
        );
    }

    proptest! {
        /// Whatever two phones offer, the answer has one media line per
        /// offered line, and lists only codecs both offered.
        #[test]
        fn answers_keep_the_offers_shape_and_only_common_codecs(
            a in proptest::collection::vec(prop::sample::select(vec!["0", "8", "9", "18"]), 1..4),
            c in proptest::collection::vec(prop::sample::select(vec!["0", "8", "9", "18"]), 1..4),
        ) {
            let offer = format!("v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP {}\r\n", a.join(" "));
            let other = format!("v=0\r\nc=IN IP4 10.0.0.3\r\nm=audio 6000 RTP/AVP {}\r\n", c.join(" "));
            let answer = answer_from(&offer, &other, 1).expect("answer");
            let m: Vec<&str> = answer.lines().filter(|l| l.starts_with("m=")).collect();
            prop_assert_eq!(m.len(), 1);
            let formats: Vec<&str> = m[0].split_whitespace().skip(3).collect();
            if m[0].starts_with("m=audio 0 ") {
                prop_assert!(a.iter().all(|f| !c.contains(f)));
            } else {
                for f in formats {
                    prop_assert!(a.contains(&f) && c.contains(&f));
                }
            }
        }

        /// Garbage never panics: it is an answer or an error.
        #[test]
        fn any_text_is_an_answer_or_an_error(text in ".{0,300}") {
            let _ = answer_from(&text, PICKER, 1);
            let _ = answer_from(PICKER, &text, 1);
        }
    }
}
