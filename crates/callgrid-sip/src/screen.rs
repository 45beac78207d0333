//! The UDP socket in front of the SIP stack: every datagram is screened
//! before the stack sees it.
//!
//! The stack drops a message it cannot parse without a word, and reads at
//! most [`MAX_DATAGRAM`] bytes of a datagram. A phone (or a person at
//! `sipp`) that sends a bad request deserves to be told, so here:
//!
//! - a request over [`MAX_DATAGRAM`] bytes is refused with `513 Message
//!   Too Large` (RFC 3261 §21.5.14) instead of being cut short;
//! - a request that does not parse, or whose core headers (Via, From, To,
//!   Call-ID, CSeq, Max-Forwards, Content-Length) break their grammar, gets
//!   `400 Bad Request` with a `Warning` that names the header and the rule;
//! - anything else passes to the stack unchanged, and the edge keeps
//!   serving.
//!
//! A method the edge does not know gets `501 Not Implemented`. Refusals
//! echo only the request's own Via, From, To, Call-ID and CSeq lines, are
//! never sent when they would be more than twice the request's size (no
//! amplification), and each counts against the sender's flood allowance. A response, an
//! ACK, or a request too broken to answer (no Via or Call-ID to answer
//! with) is dropped and counted. TCP is screened by the stack itself: it
//! closes a stream it cannot frame.

use std::net::SocketAddr;
use std::sync::Arc;

use rsipstack::sip::prelude::{HasHeaders, HeadersExt, ToTypedHeader};
use rsipstack::sip::{Header, SipMessage};

use crate::guard::Flood;

/// The largest datagram passed to the stack (its own receive buffer).
pub const MAX_DATAGRAM: usize = 8192;

/// What becomes of one datagram.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Hand it to the stack.
    Pass,
    /// Answer the sender with these bytes and forget the datagram.
    Refuse(Vec<u8>),
    /// Forget it (counted under this reason).
    Drop(&'static str),
}

/// Judges one datagram.
pub fn screen(datagram: &[u8]) -> Verdict {
    if datagram.iter().all(u8::is_ascii_whitespace) {
        // Keep-alives (CRLF) are the stack's business.
        return Verdict::Pass;
    }
    let head = Head::of(datagram);
    let parsed = SipMessage::try_from(datagram);
    // A request line the stack reads more loosely than `Head` (tabs, a
    // trailing space) is still a request.
    if !head.is_request() && !matches!(parsed, Ok(SipMessage::Request(_))) {
        return match parsed {
            Ok(SipMessage::Response(_)) if datagram.len() <= MAX_DATAGRAM => Verdict::Pass,
            _ => Verdict::Drop("unanswerable"),
        };
    }
    if datagram.len() > MAX_DATAGRAM {
        return head.refuse(
            datagram,
            "513 Message Too Large",
            &format!("a datagram may carry at most {MAX_DATAGRAM} bytes; use TCP"),
        );
    }
    if let Some(method) = head.method
        && method.parse::<rsipstack::sip::Method>().is_err()
    {
        // RFC 3261 §8.2.1: a method the edge does not know is 501.
        return head.refuse(
            datagram,
            "501 Not Implemented",
            &format!("method {method} is not served here"),
        );
    }
    match parsed {
        Ok(SipMessage::Request(request)) => match broken_core_header(&request, datagram) {
            None => Verdict::Pass,
            Some(why) => head.refuse(datagram, "400 Bad Request", &why),
        },
        Ok(SipMessage::Response(_)) => Verdict::Drop("unanswerable"),
        Err(e) => head.refuse(
            datagram,
            "400 Bad Request",
            &format!("unparseable message: {e}"),
        ),
    }
}

/// The first core header of `request` that breaks its grammar, said as
/// "malformed <header> header: <rule>".
fn broken_core_header(request: &rsipstack::sip::Request, datagram: &[u8]) -> Option<String> {
    let malformed = |header: &str, rule: &str| Some(format!("malformed {header} header: {rule}"));
    match request.via_header() {
        Ok(via) if via.typed().is_ok() => {}
        Ok(_) => return malformed("Via", "SIP/2.0/<transport> <host>[:<port>];branch=..."),
        Err(_) => return malformed("Via", "required"),
    }
    for (name, ok) in [
        ("From", request.from_header().map(|h| h.typed().is_ok())),
        ("To", request.to_header().map(|h| h.typed().is_ok())),
    ] {
        match ok {
            Ok(true) => {}
            Ok(false) => return malformed(name, "a SIP URI with optional ;tag="),
            Err(_) => return malformed(name, "required"),
        }
    }
    match request.call_id_header() {
        Ok(id) if !id.value().trim().is_empty() => {}
        _ => return malformed("Call-ID", "required, not empty"),
    }
    match request.cseq_header().map(|h| h.typed()) {
        Ok(Ok(cseq)) if cseq.method == request.method => {}
        Ok(Ok(_)) => return malformed("CSeq", "its method must be the request's method"),
        Ok(Err(_)) => return malformed("CSeq", "<sequence number> <method>"),
        Err(_) => return malformed("CSeq", "required"),
    }
    for header in request.headers().iter() {
        match header {
            Header::MaxForwards(h) if h.value().trim().parse::<u8>().is_err() => {
                return malformed("Max-Forwards", "a number from 0 to 255");
            }
            Header::ContentLength(h) => match h.value().trim().parse::<usize>() {
                Ok(n) if n <= body_len(datagram) => {}
                Ok(_) => return malformed("Content-Length", "no larger than the body sent"),
                Err(_) => return malformed("Content-Length", "a number of bytes"),
            },
            _ => {}
        }
    }
    None
}

/// The length of what follows the blank line that ends the headers.
fn body_len(datagram: &[u8]) -> usize {
    datagram
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|at| datagram.len() - at - 4)
        .or_else(|| {
            datagram
                .windows(2)
                .position(|w| w == b"\n\n")
                .map(|at| datagram.len() - at - 2)
        })
        .unwrap_or(0)
}

/// The raw lines a refusal is built from, found without parsing the
/// message (it may not parse): the request line's method and the header
/// lines of Via, From, To, Call-ID and CSeq, long or compact names.
#[derive(Default)]
struct Head<'a> {
    method: Option<&'a str>,
    vias: Vec<&'a str>,
    from: Option<&'a str>,
    to: Option<&'a str>,
    call_id: Option<&'a str>,
    cseq: Option<&'a str>,
}

/// How many header lines are looked at: a refusal needs only the first few.
const HEAD_LINES: usize = 200;

impl<'a> Head<'a> {
    fn of(datagram: &'a [u8]) -> Head<'a> {
        let text = match std::str::from_utf8(datagram) {
            Ok(text) => text,
            // Only the head is needed: cut at the first byte that is not text.
            Err(e) => std::str::from_utf8(&datagram[..e.valid_up_to()]).unwrap_or_default(),
        };
        let mut lines = text.split('\n').map(|l| l.trim_end_matches('\r'));
        let mut head = Head::default();
        if let Some(first) = lines.next() {
            let mut words = first.split(' ');
            let method = words.next().unwrap_or_default();
            if first.ends_with(" SIP/2.0")
                && !method.is_empty()
                && method.bytes().all(|b| b.is_ascii_alphabetic())
            {
                head.method = Some(method);
            }
        }
        for line in lines.take(HEAD_LINES) {
            if line.is_empty() {
                break;
            }
            if line.chars().any(|c| c.is_control() && c != '\t') {
                continue;
            }
            let Some((name, _)) = line.split_once(':') else {
                continue;
            };
            match name.trim().to_ascii_lowercase().as_str() {
                "via" | "v" => head.vias.push(line),
                "from" | "f" => head.from = head.from.or(Some(line)),
                "to" | "t" => head.to = head.to.or(Some(line)),
                "call-id" | "i" => head.call_id = head.call_id.or(Some(line)),
                "cseq" => head.cseq = head.cseq.or(Some(line)),
                _ => {}
            }
        }
        head
    }

    fn is_request(&self) -> bool {
        self.method.is_some()
    }

    /// A final response with `status` ("400 Bad Request"), a `Warning`
    /// saying `why`, and the request's own identifying lines; or a drop
    /// when there is nothing to answer with, or when the answer would be
    /// more than twice the size of `datagram` (a spoofed source must not
    /// get a bigger reply than the sender paid for).
    fn refuse(&self, datagram: &[u8], status: &str, why: &str) -> Verdict {
        if self.method.is_some_and(|m| m.eq_ignore_ascii_case("ACK")) {
            return Verdict::Drop("malformed ACK");
        }
        let (Some(call_id), false) = (self.call_id, self.vias.is_empty()) else {
            return Verdict::Drop("unanswerable");
        };
        let mut response = format!("SIP/2.0 {status}\r\n");
        for line in self.vias.iter().chain([&call_id]) {
            response.push_str(line);
            response.push_str("\r\n");
        }
        for line in [self.from, self.cseq].into_iter().flatten() {
            response.push_str(line);
            response.push_str("\r\n");
        }
        if let Some(to) = self.to {
            response.push_str(to);
            if !to.to_ascii_lowercase().contains(";tag=") {
                response.push_str(";tag=refused");
            }
            response.push_str("\r\n");
        }
        let why: String = why
            .chars()
            .map(|c| {
                if c == '"' || c == '\\' || c.is_control() {
                    '\''
                } else {
                    c
                }
            })
            .take(200)
            .collect();
        response.push_str(&format!(
            "Warning: 399 callgrid \"{why}\"\r\nContent-Length: 0\r\n\r\n"
        ));
        if response.len() > 2 * datagram.len() {
            return Verdict::Drop("answer larger than the request");
        }
        Verdict::Refuse(response.into_bytes())
    }
}

/// The edge's UDP socket: screens what it receives (see the module
/// comment), sends what the stack sends.
pub struct ScreenedUdp {
    socket: tokio::net::UdpSocket,
    flood: Arc<Flood>,
    /// One receive buffer as large as any datagram; only the stack's one
    /// receive loop uses it.
    buffer: tokio::sync::Mutex<Vec<u8>>,
}

impl ScreenedUdp {
    pub fn new(socket: tokio::net::UdpSocket, flood: Arc<Flood>) -> ScreenedUdp {
        ScreenedUdp {
            socket,
            flood,
            buffer: tokio::sync::Mutex::new(vec![0; 65_536]),
        }
    }
}

#[async_trait::async_trait]
impl rsipstack::platform::net::UdpSocket for ScreenedUdp {
    async fn recv_from(&self, buf: &mut [u8]) -> rsipstack::Result<(usize, SocketAddr)> {
        let mut datagram = self.buffer.lock().await;
        loop {
            let (len, from) = self.socket.recv_from(&mut datagram).await?;
            let received = &datagram[..len];
            match screen(received) {
                Verdict::Pass if len <= buf.len() => {
                    buf[..len].copy_from_slice(received);
                    return Ok((len, from));
                }
                Verdict::Pass => count_drop("too large"),
                Verdict::Refuse(response) => {
                    let status = if response.starts_with(b"SIP/2.0 513") {
                        "oversized"
                    } else {
                        "malformed"
                    };
                    metrics::counter!("callgrid_sip_requests_refused_total", "reason" => status)
                        .increment(1);
                    tracing::debug!(%from, reason = status, "sip request refused before the stack");
                    if self.flood.admit(from.ip()) {
                        let _ = self.socket.send_to(&response, from).await;
                    }
                }
                Verdict::Drop(reason) => count_drop(reason),
            }
        }
    }

    async fn send_to(&self, buf: &[u8], addr: SocketAddr) -> rsipstack::Result<usize> {
        Ok(self.socket.send_to(buf, addr).await?)
    }

    fn local_addr(&self) -> rsipstack::Result<SocketAddr> {
        Ok(self.socket.local_addr()?)
    }
}

fn count_drop(reason: &'static str) {
    metrics::counter!("callgrid_sip_requests_dropped_total", "reason" => reason).increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const OPTIONS: &str = "OPTIONS sip:acme SIP/2.0\r\n\
        Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKx1\r\n\
        From: <sip:101@acme>;tag=a1\r\nTo: <sip:acme>\r\nCall-ID: c1\r\n\
        CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";

    fn refusal(datagram: &[u8]) -> String {
        match screen(datagram) {
            Verdict::Refuse(bytes) => String::from_utf8(bytes).expect("text"),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_well_formed_request_and_a_keepalive_pass() {
        assert_eq!(screen(OPTIONS.as_bytes()), Verdict::Pass);
        assert_eq!(screen(b"\r\n\r\n"), Verdict::Pass);
    }

    #[test]
    fn each_broken_core_header_is_refused_with_400_naming_it() {
        for (from, to, named) in [
            (
                "CSeq: 1 OPTIONS",
                "CSeq: one OPTIONS",
                "malformed CSeq header",
            ),
            ("CSeq: 1 OPTIONS", "CSeq: 1 INVITE", "its method must be"),
            (
                "Max-Forwards: 70",
                "Max-Forwards: many",
                "malformed Max-Forwards",
            ),
            (
                "Content-Length: 0",
                "Content-Length: 900",
                "no larger than the body",
            ),
            (
                "From: <sip:101@acme>;tag=a1\r\n",
                "",
                "malformed From header: required",
            ),
        ] {
            let broken = OPTIONS.replace(from, to);
            let answer = refusal(broken.as_bytes());
            assert!(
                answer.starts_with("SIP/2.0 400 Bad Request\r\n"),
                "{answer}"
            );
            assert!(answer.contains(named), "{to}: {answer}");
            assert!(answer.contains("Call-ID: c1\r\n"), "{answer}");
            assert!(answer.contains("branch=z9hG4bKx1"), "{answer}");
            assert!(answer.contains("To: <sip:acme>;tag="), "{answer}");
            let parsed = SipMessage::try_from(answer.as_bytes()).expect("the 400 parses");
            assert!(matches!(parsed, SipMessage::Response(_)));
        }
    }

    #[test]
    fn a_request_over_the_datagram_limit_is_refused_with_513() {
        let body = "x".repeat(MAX_DATAGRAM);
        let big = OPTIONS.replace(
            "Content-Length: 0\r\n\r\n",
            &format!(
                "Content-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            ),
        );
        let answer = refusal(big.as_bytes());
        assert!(
            answer.starts_with("SIP/2.0 513 Message Too Large\r\n"),
            "{answer}"
        );
        assert!(
            answer.len() < 600,
            "a refusal stays small: {}",
            answer.len()
        );
    }

    #[test]
    fn an_unknown_method_is_501_and_a_loose_request_line_still_passes() {
        let unknown = OPTIONS
            .replace("OPTIONS sip", "FROB sip")
            .replace("1 OPTIONS", "1 FROB");
        let answer = refusal(unknown.as_bytes());
        assert!(
            answer.starts_with("SIP/2.0 501 Not Implemented\r\n"),
            "{answer}"
        );
        let loose = OPTIONS.replace(" SIP/2.0\r\nVia", " SIP/2.0 \r\nVia");
        if SipMessage::try_from(loose.as_bytes()).is_ok() {
            assert_eq!(screen(loose.as_bytes()), Verdict::Pass);
        }
    }

    #[test]
    fn a_tiny_datagram_never_draws_a_bigger_answer() {
        assert_eq!(
            screen(b"A SIP/2.0\nv:\ni:"),
            Verdict::Drop("answer larger than the request")
        );
    }

    #[test]
    fn garbage_responses_and_acks_are_dropped_unanswered() {
        assert_eq!(
            screen(b"\x00\x01not sip\r\n\r\n"),
            Verdict::Drop("unanswerable")
        );
        let ack = OPTIONS
            .replace("OPTIONS sip", "ACK sip")
            .replace("CSeq: 1 OPTIONS", "CSeq: x ACK");
        assert_eq!(screen(ack.as_bytes()), Verdict::Drop("malformed ACK"));
        let no_via = OPTIONS
            .replace("Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKx1\r\n", "")
            .replace("CSeq: 1", "CSeq: x");
        assert_eq!(screen(no_via.as_bytes()), Verdict::Drop("unanswerable"));
    }

    proptest! {
        /// Whatever arrives, the screen answers, if at all, with a final
        /// response of plain text lines, never much larger than what came.
        #[test]
        fn any_datagram_is_passed_dropped_or_answered_with_a_small_final_response(
            cut in 0usize..OPTIONS.len(),
            noise in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let mut datagram = OPTIONS.as_bytes()[..cut].to_vec();
            datagram.extend(&noise);
            datagram.extend(&OPTIONS.as_bytes()[cut..]);
            if let Verdict::Refuse(answer) = screen(&datagram) {
                prop_assert!(answer.len() <= 2 * datagram.len());
                let text = String::from_utf8(answer).expect("text");
                prop_assert!(["SIP/2.0 400 ", "SIP/2.0 501 ", "SIP/2.0 513 "].iter().any(|s| text.starts_with(s)));
                prop_assert!(text.contains("\r\nWarning: 399 callgrid \""));
                prop_assert!(!text.replace("\r\n", "").chars().any(|c| c.is_control() && c != '\t'));
            }
        }
    }
}
