//! The one deadline of a request: read where it enters, carried down.
//!
//! A gRPC client says how long it will wait in its `grpc-timeout` header;
//! a request without one gets [`DEFAULT`]. Every step below — routing, the
//! owner's queue, finding a leader, committing, forwarding to a peer (as
//! that call's own `grpc-timeout`) — works within what is left of it,
//! instead of each keeping a timeout of its own.

use std::time::Duration;

use callgrid_actors::Deadline;
use tonic::metadata::MetadataMap;

/// A request that names no deadline gets this long.
pub const DEFAULT: Duration = Duration::from_secs(10);
/// The longest deadline honoured: a client asking for more gets this.
pub const LONGEST: Duration = Duration::from_secs(30);

/// The deadline a request carries (`grpc-timeout`), within [`LONGEST`].
pub fn of(metadata: &MetadataMap) -> Deadline {
    let asked = metadata
        .get("grpc-timeout")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_grpc_timeout)
        .unwrap_or(DEFAULT);
    Deadline::after(asked.min(LONGEST))
}

/// `grpc-timeout`: at most 8 ASCII digits and a unit (`H`, `M`, `S`, `m`,
/// `u`, `n`), per the gRPC HTTP/2 protocol.
fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3_600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeout_is_read_in_each_unit_and_nonsense_gets_the_default() {
        assert_eq!(parse_grpc_timeout("5S"), Some(Duration::from_secs(5)));
        assert_eq!(parse_grpc_timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse_grpc_timeout("2M"), Some(Duration::from_secs(120)));
        assert_eq!(parse_grpc_timeout("1H"), Some(Duration::from_secs(3_600)));
        assert_eq!(parse_grpc_timeout("7u"), Some(Duration::from_micros(7)));
        assert_eq!(parse_grpc_timeout("9n"), Some(Duration::from_nanos(9)));
        for bad in ["", "S", "5", "5s", "123456789S", "-5S", "5 S", "五S"] {
            assert_eq!(parse_grpc_timeout(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_request_gets_its_own_deadline_within_the_longest() {
        let mut m = MetadataMap::new();
        let d = of(&m).remaining();
        assert!(
            d <= DEFAULT && d > DEFAULT - Duration::from_secs(1),
            "{d:?}"
        );
        m.insert("grpc-timeout", "300m".parse().unwrap());
        assert!(of(&m).remaining() <= Duration::from_millis(300));
        m.insert("grpc-timeout", "1H".parse().unwrap());
        assert!(of(&m).remaining() <= LONGEST);
    }
}
