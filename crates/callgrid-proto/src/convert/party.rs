//! `Party`: an extension or an outside number.

use callgrid_model::{Extension, OutsideNumber, Party, ValidationError};

use crate::v1;

impl From<&Party> for v1::Party {
    fn from(p: &Party) -> Self {
        let kind = match p {
            Party::Extension(e) => v1::party::Kind::Extension(e.to_string()),
            Party::Outside(n) => v1::party::Kind::Outside(n.as_str().to_owned()),
        };
        v1::Party { kind: Some(kind) }
    }
}

/// The proto party for `p`, as the optional message field that carries it.
pub fn party_from(p: &Party) -> Option<v1::Party> {
    Some(p.into())
}

/// The party in request field `field`, which must be present and set.
pub fn party(field: &str, raw: Option<&v1::Party>) -> Result<Party, ValidationError> {
    match raw.and_then(|p| p.kind.as_ref()) {
        None => Err(ValidationError::new(
            field,
            "a party is required: set extension or outside",
        )),
        Some(v1::party::Kind::Extension(e)) => {
            Extension::parse(&format!("{field}.extension"), e).map(Party::Extension)
        }
        Some(v1::party::Kind::Outside(n)) => {
            OutsideNumber::parse(&format!("{field}.outside"), n).map(Party::Outside)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn party_round_trips() {
        for p in [
            Party::Extension(Extension::parse("t", "101").unwrap()),
            Party::Outside(OutsideNumber::parse("t", "+15551234").unwrap()),
        ] {
            let proto = party_from(&p);
            assert_eq!(party("from", proto.as_ref()).unwrap(), p);
        }
    }

    #[test]
    fn missing_party_names_the_field() {
        assert_eq!(party("from", None).unwrap_err().field, "from");
        let empty = v1::Party { kind: None };
        assert_eq!(party("by", Some(&empty)).unwrap_err().field, "by");
    }

    #[test]
    fn bad_party_names_the_inner_field() {
        let p = v1::Party {
            kind: Some(v1::party::Kind::Extension("10x".into())),
        };
        assert_eq!(party("from", Some(&p)).unwrap_err().field, "from.extension");
        let p = v1::Party {
            kind: Some(v1::party::Kind::Outside("555-1234".into())),
        };
        assert_eq!(party("from", Some(&p)).unwrap_err().field, "from.outside");
    }
}
