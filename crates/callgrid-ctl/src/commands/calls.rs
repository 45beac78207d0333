//! `dial`, `answer`, `hangup`, `call get|list`: the Calls service.

use anyhow::bail;
use callgrid_proto::v1::{self, calls_client::CallsClient};
use serde_json::json;

use callgrid_client::Key;

use super::Ctx;
use crate::cli::{CallCommand, DialArgs};
use crate::exit::{Outcome as _, invalid};
use crate::output::Titled;

fn extension(e: String) -> v1::Party {
    v1::Party {
        kind: Some(v1::party::Kind::Extension(e)),
    }
}

fn outside(n: String) -> v1::Party {
    v1::Party {
        kind: Some(v1::party::Kind::Outside(n)),
    }
}

/// `dial 101 *97102` or `dial --outside +15551234 101`.
fn dial_request(tenant: String, args: DialArgs) -> anyhow::Result<v1::DialRequest> {
    let mut positional = args.args;
    let (from, digits) = match (args.outside, positional.len()) {
        (Some(n), 1) => (outside(n), positional.remove(0)),
        (Some(_), _) => invalid!("with --outside, give only the DIGITS to dial"),
        (None, 2) => {
            let digits = positional.remove(1);
            (extension(positional.remove(0)), digits)
        }
        (None, _) => {
            invalid!("give FROM (an extension) and DIGITS, or --outside NUMBER and DIGITS")
        }
    };
    Ok(v1::DialRequest {
        tenant,
        from: Some(from),
        digits,
    })
}

pub async fn dial(ctx: &Ctx, args: DialArgs) -> anyhow::Result<()> {
    let request = dial_request(ctx.tenant.clone(), args)?;
    let from = match &request.from {
        Some(v1::Party {
            kind: Some(v1::party::Kind::Extension(e)),
        }) => Some(e.as_str()),
        _ => None,
    };
    let route = ctx.route(Key::dial(&ctx.tenant, from, &request.digits));
    let r = ctx
        .retry
        .send(&route, request, |to, r| async move {
            CallsClient::new(to).dial(r).await
        })
        .await?
        .into_inner();
    ctx.out.show(&r);
    r.exit().into_result()
}

/// An answer goes to the answering extension's owner: the home of the
/// call when the callee answers, one hop away when a call group's member does.
pub async fn answer(ctx: &Ctx, call: u64, by: String) -> anyhow::Result<()> {
    let r = ctx
        .retry
        .send(
            &ctx.route(ctx.extension(&by)),
            v1::AnswerRequest {
                tenant: ctx.tenant.clone(),
                call_id: call,
                by: by.clone(),
            },
            |to, r| async move { CallsClient::new(to).answer(r).await },
        )
        .await?
        .into_inner();
    ctx.out.show(&Titled {
        title: format!("call {call}, {by}"),
        fields: json!({ "call_id": call, "by": by }),
        inner: &r,
    });
    r.exit().into_result()
}

/// The party that hangs up: `+…` (or anything with `--outside`) is an outside number.
fn hangup_party(party: String, force_outside: bool) -> v1::Party {
    if force_outside || party.starts_with('+') {
        outside(party)
    } else {
        extension(party)
    }
}

pub async fn hangup(
    ctx: &Ctx,
    call: u64,
    party: String,
    force_outside: bool,
) -> anyhow::Result<()> {
    let r = ctx
        .retry
        .send(
            // Either side may hang up: the party's extension is no better a
            // guess at the call's home than any node.
            &ctx.route(None),
            v1::HangupRequest {
                tenant: ctx.tenant.clone(),
                call_id: call,
                by: Some(hangup_party(party.clone(), force_outside)),
            },
            |to, r| async move { CallsClient::new(to).hangup(r).await },
        )
        .await?
        .into_inner();
    ctx.out.show(&Titled {
        title: format!("call {call}, {party}"),
        fields: json!({ "call_id": call, "by": party }),
        inner: &r,
    });
    r.exit().into_result()
}

pub async fn call(ctx: &Ctx, cmd: CallCommand) -> anyhow::Result<()> {
    let mut c = CallsClient::new(ctx.any());
    match cmd {
        CallCommand::Get { id } => {
            let r = c
                .get_call(v1::GetCallRequest {
                    tenant: ctx.tenant.clone(),
                    call_id: id,
                })
                .await?
                .into_inner();
            match r.call {
                Some(info) => ctx.out.show(&info),
                None => bail!("the server answered GetCall without a call"),
            }
        }
        CallCommand::List => {
            let r = c
                .list_calls(v1::ListCallsRequest {
                    tenant: ctx.tenant.clone(),
                })
                .await?
                .into_inner();
            ctx.out.show(&r);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(positional: &[&str], outside: Option<&str>) -> DialArgs {
        DialArgs {
            args: positional.iter().map(|s| s.to_string()).collect(),
            outside: outside.map(str::to_owned),
        }
    }

    #[test]
    fn dial_from_an_extension_or_from_outside() {
        let r = dial_request("t".into(), args(&["101", "*98"], None)).unwrap();
        assert_eq!(r.from, Some(extension("101".into())));
        assert_eq!(r.digits, "*98");
        let r = dial_request("t".into(), args(&["101"], Some("+1555"))).unwrap();
        assert_eq!(r.from, Some(outside("+1555".into())));
        assert_eq!(r.digits, "101");
        assert!(dial_request("t".into(), args(&["101"], None)).is_err());
        assert!(dial_request("t".into(), args(&["101", "102"], Some("+1"))).is_err());
    }

    #[test]
    fn hangup_party_is_outside_when_it_starts_with_plus() {
        assert_eq!(hangup_party("+1555".into(), false), outside("+1555".into()));
        assert_eq!(hangup_party("101".into(), false), extension("101".into()));
        assert_eq!(
            hangup_party("5551234".into(), true),
            outside("5551234".into())
        );
    }
}
