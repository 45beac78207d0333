//! Who may do what: bearer tokens scoped to a tenant, with roles.
//!
//! A token (`authorization: Bearer <token>`) names one principal:
//!
//! - **cluster admin**: everything, in every tenant, and the cluster itself
//!   (creating and deleting tenants and their limits, adding and removing
//!   nodes, cluster status);
//! - **tenant admin** of tenant T: T's directory (extensions, park
//!   policies and grants, anyone's call group), reading T, acting as any
//!   extension of T or for an outside party (a PBX or SIP front end acting
//!   for its phones), and T's SIP registrar (digest checks and bindings);
//! - **extension user** E of tenant T: acts only as E (dials from E,
//!   answers, picks up, parks and retrieves as E, watches lamps as E, reads
//!   E's notifications, sets E online), manages only the call group E owns,
//!   and reads T's directory, calls and parked calls.
//!
//! Every public method states what it needs from the fields of its request
//! ([`Scoped`]), and the gate (`gate.rs`) checks that before the handler
//! runs, so a refused request changes nothing. No token or an unknown one is
//! `UNAUTHENTICATED`; a valid token outside its scope is
//! `PERMISSION_DENIED`. With no tokens configured the node runs in
//! development mode and lets everything through (and says so at start).
//!
//! The node-to-node service is not covered by tokens: mutual TLS guards it
//! (see `tls.rs`).
//!
//! The check itself runs in `gate.rs`, the public API's front door.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use callgrid_model::{Extension, TenantId};
use callgrid_proto::convert;
use callgrid_proto::v1;
use serde::Deserialize;
use subtle::ConstantTimeEq;
use tonic::metadata::MetadataMap;
use tonic::{Request, Status};

/// A role a token grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    ClusterAdmin,
    TenantAdmin,
    ExtensionUser,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::ClusterAdmin => "cluster_admin",
            Role::TenantAdmin => "tenant_admin",
            Role::ExtensionUser => "extension_user",
        }
    }
}

/// One `[[tokens]]` entry of the config file.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// The bearer secret, at least [`MIN_TOKEN_LEN`] characters.
    pub token: String,
    pub role: Role,
    /// Required for tenant admins and extension users; not allowed for
    /// cluster admins.
    #[serde(default)]
    pub tenant: Option<String>,
    /// Required for extension users only.
    #[serde(default)]
    pub extension: Option<String>,
}

/// Never prints the secret.
impl std::fmt::Debug for TokenConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenConfig")
            .field("token", &"<not shown>")
            .field("role", &self.role)
            .field("tenant", &self.tenant)
            .field("extension", &self.extension)
            .finish()
    }
}

/// Shorter secrets are refused: they can be guessed.
pub const MIN_TOKEN_LEN: usize = 16;

/// Who a request acts as, from its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    ClusterAdmin,
    TenantAdmin {
        tenant: TenantId,
    },
    ExtensionUser {
        tenant: TenantId,
        extension: Extension,
    },
}

impl TokenConfig {
    /// The principal this entry grants; `Err((key, rule))` names what is wrong.
    fn principal(&self, i: usize) -> Result<Principal, (String, String)> {
        let key = |field: &str| format!("tokens[{i}].{field}");
        let tenant = || {
            let raw = self.tenant.as_deref().ok_or_else(|| {
                (
                    key("tenant"),
                    format!("required for role {}", self.role.as_str()),
                )
            })?;
            convert::tenant(raw).map_err(|e| (key("tenant"), e.rule))
        };
        match (self.role, &self.extension) {
            (Role::ClusterAdmin, _) if self.tenant.is_some() => Err((
                key("tenant"),
                "a cluster_admin token spans every tenant: remove tenant".into(),
            )),
            (Role::ClusterAdmin | Role::TenantAdmin, Some(_)) => Err((
                key("extension"),
                format!(
                    "only extension_user tokens name an extension, not {}",
                    self.role.as_str()
                ),
            )),
            (Role::ClusterAdmin, None) => Ok(Principal::ClusterAdmin),
            (Role::TenantAdmin, None) => Ok(Principal::TenantAdmin { tenant: tenant()? }),
            (Role::ExtensionUser, None) => {
                Err((key("extension"), "required for role extension_user".into()))
            }
            (Role::ExtensionUser, Some(raw)) => Ok(Principal::ExtensionUser {
                tenant: tenant()?,
                extension: convert::extension("extension", raw)
                    .map_err(|e| (key("extension"), e.rule))?,
            }),
        }
    }
}

/// What a request needs, read from its method and fields.
#[derive(Debug, Clone, Copy)]
pub enum Needs<'a> {
    /// Cluster-wide: tenants and their limits, membership.
    ClusterAdmin,
    /// Administer one tenant's directory.
    TenantAdmin { tenant: &'a str },
    /// Read one tenant's state.
    TenantMember { tenant: &'a str },
    /// Act as one extension, named in request field `field`.
    ActAs {
        tenant: &'a str,
        extension: &'a str,
        field: &'static str,
    },
    /// Manage the call group owned by `owner`.
    OwnsGroup { tenant: &'a str, owner: &'a str },
}

impl Needs<'_> {
    /// The tenant the request is in; `None` for cluster-wide requests.
    pub fn tenant(&self) -> Option<&str> {
        match *self {
            Needs::ClusterAdmin => None,
            Needs::TenantAdmin { tenant }
            | Needs::TenantMember { tenant }
            | Needs::ActAs { tenant, .. }
            | Needs::OwnsGroup { tenant, .. } => Some(tenant),
        }
    }
}

impl Principal {
    /// `Ok` if this principal may do what `needs` describes.
    pub fn may(&self, needs: Needs<'_>) -> Result<(), Status> {
        let same_tenant =
            |mine: &TenantId, raw: &str| convert::tenant(raw).is_ok_and(|t| t == *mine);
        let same_extension =
            |mine: &Extension, raw: &str| convert::extension("", raw).is_ok_and(|e| e == *mine);
        let tenant_of = |needs: Needs<'_>| needs.tenant().map(str::to_owned);
        let denied = |why: String| Err(Status::permission_denied(why));
        match self {
            Principal::ClusterAdmin => Ok(()),
            Principal::TenantAdmin { tenant: mine } => match tenant_of(needs) {
                None => denied("needs a cluster_admin token".into()),
                Some(t) if same_tenant(mine, &t) => Ok(()),
                Some(t) => denied(format!(
                    "tenant: this token is for tenant {mine}, not {t:?}"
                )),
            },
            Principal::ExtensionUser {
                tenant: mine,
                extension: me,
            } => match needs {
                Needs::ClusterAdmin => denied("needs a cluster_admin token".into()),
                _ if !tenant_of(needs).is_some_and(|t| same_tenant(mine, &t)) => denied(format!(
                    "tenant: this token is for tenant {mine}, not {:?}",
                    tenant_of(needs).unwrap_or_default()
                )),
                Needs::TenantAdmin { .. } => {
                    denied(format!("needs a tenant_admin token for tenant {mine}"))
                }
                Needs::TenantMember { .. } => Ok(()),
                Needs::ActAs { extension, .. } if same_extension(me, extension) => Ok(()),
                Needs::ActAs {
                    extension, field, ..
                } => denied(format!(
                    "{field}: this token acts only as extension {me}, not {extension:?}"
                )),
                Needs::OwnsGroup { owner, .. } if same_extension(me, owner) => Ok(()),
                Needs::OwnsGroup { owner, .. } => denied(format!(
                    "owner: extension {me} manages only its own call group, not {owner:?}'s"
                )),
            },
        }
    }
}

/// The configured tokens; empty means development mode.
#[derive(Clone, Default)]
pub struct Authorizer {
    tokens: Arc<Vec<(Vec<u8>, Principal)>>,
}

impl Authorizer {
    /// Checks every entry; `Err((key, rule))` names the first bad one.
    pub fn from_config(tokens: &[TokenConfig]) -> Result<Self, (String, String)> {
        let mut checked: Vec<(Vec<u8>, Principal)> = Vec::new();
        for (i, t) in tokens.iter().enumerate() {
            if t.token.chars().count() < MIN_TOKEN_LEN
                || t.token.chars().any(|c| c.is_whitespace() || c.is_control())
            {
                return Err((
                    format!("tokens[{i}].token"),
                    format!("must be at least {MIN_TOKEN_LEN} characters, without spaces"),
                ));
            }
            if checked
                .iter()
                .any(|(secret, _)| secret == t.token.as_bytes())
            {
                return Err((
                    format!("tokens[{i}].token"),
                    "the same token is listed twice".into(),
                ));
            }
            checked.push((t.token.as_bytes().to_vec(), t.principal(i)?));
        }
        Ok(Self {
            tokens: Arc::new(checked),
        })
    }

    /// No tokens: every request is let through.
    pub fn is_dev_mode(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The principal of the request's bearer token.
    pub fn authenticate(&self, metadata: &MetadataMap) -> Result<&Principal, Status> {
        self.token_of(metadata).map(|i| &self.tokens[i].1)
    }

    /// The index in the token table of the request's bearer token.
    fn token_of(&self, metadata: &MetadataMap) -> Result<usize, Status> {
        let header = metadata
            .get("authorization")
            .ok_or_else(|| Status::unauthenticated("authorization: a bearer token is required"))?;
        let presented = header
            .to_str()
            .ok()
            .and_then(bearer_credentials)
            .ok_or_else(|| Status::unauthenticated("authorization: expected `Bearer <token>`"))?
            .trim()
            .as_bytes();
        // Compare against every token, each in time independent of how many
        // bytes match, so timing tells nothing about which bytes matched.
        // subtle returns false at once for a token of another length: timing
        // may tell a token's length, never its bytes.
        let mut found = None;
        for (i, (secret, _)) in self.tokens.iter().enumerate() {
            if bool::from(secret.as_slice().ct_eq(presented)) {
                found = Some(i);
            }
        }
        found.ok_or_else(|| Status::unauthenticated("authorization: unknown token"))
    }

    /// Lets the request through if its token allows what it asks, and
    /// says which client it came from.
    pub fn authorize<T: Scoped>(&self, request: &Request<T>) -> Result<Client, Status> {
        if self.is_dev_mode() {
            return Ok(Client::of_address(request.remote_addr()));
        }
        let token = self.token_of(request.metadata())?;
        self.tokens[token].1.may(request.get_ref().needs())?;
        Ok(Client::Token(token))
    }
}

/// Who a request came from, for limits per client (open streams): its
/// bearer token, or in development mode, where there are no tokens, the IP
/// address it came from. A token is known by its place in the token table,
/// so no secret is kept beside the count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Client {
    Token(usize),
    Address(IpAddr),
}

impl Client {
    /// The client at `addr`; one whose address is unknown (never, over
    /// TCP) shares the unspecified address with every other such one.
    pub fn of_address(addr: Option<SocketAddr>) -> Self {
        Client::Address(addr.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip().to_canonical()))
    }
}

impl std::fmt::Display for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Client::Token(i) => write!(f, "token tokens[{i}]"),
            Client::Address(ip) => write!(f, "address {ip}"),
        }
    }
}

/// The credentials of an `authorization` value using the Bearer scheme.
/// Auth schemes are case-insensitive in HTTP (RFC 9110 §11.1), so
/// `bearer`, `Bearer` and `BEARER` are all the same scheme.
fn bearer_credentials(header: &str) -> Option<&str> {
    let (scheme, credentials) = header.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(credentials)
}

/// What a request message needs to be allowed.
pub trait Scoped {
    fn needs(&self) -> Needs<'_>;

    /// The call the request is about, if it names one (for its span).
    fn call_id(&self) -> Option<u64> {
        None
    }
}

/// A party that is an extension acts as it; an outside party (a trunk
/// call) needs the tenant's admin.
fn party_needs<'a>(
    tenant: &'a str,
    party: &'a Option<v1::Party>,
    field: &'static str,
) -> Needs<'a> {
    match party.as_ref().and_then(|p| p.kind.as_ref()) {
        Some(v1::party::Kind::Extension(extension)) => Needs::ActAs {
            tenant,
            extension,
            field,
        },
        _ => Needs::TenantAdmin { tenant },
    }
}

/// The rule of every public method, in one table.
macro_rules! scoped {
    ($($request:ident => |$r:ident| $needs:expr $(, call $call:expr)?;)*) => {
        $(impl Scoped for v1::$request {
            fn needs(&self) -> Needs<'_> {
                let $r = self;
                $needs
            }
            $(fn call_id(&self) -> Option<u64> {
                let $r = self;
                $call
            })?
        })*
    };
}

scoped! {
    // Directory: tenants are the carrier's (cluster admin).
    PutTenantRequest => |_r| Needs::ClusterAdmin;
    DeleteTenantRequest => |_r| Needs::ClusterAdmin;
    ListTenantsRequest => |_r| Needs::ClusterAdmin;
    GetTenantRequest => |r| Needs::TenantMember { tenant: &r.tenant };
    // Directory: extensions and park policies are the tenant admin's.
    PutExtensionRequest => |r| Needs::TenantAdmin { tenant: &r.tenant };
    DeleteExtensionRequest => |r| Needs::TenantAdmin { tenant: &r.tenant };
    GetExtensionRequest => |r| Needs::TenantMember { tenant: &r.tenant };
    ListExtensionsRequest => |r| Needs::TenantMember { tenant: &r.tenant };
    SetOnlineRequest => |r| Needs::ActAs { tenant: &r.tenant, extension: &r.number, field: "number" };
    PutParkPolicyRequest => |r| Needs::TenantAdmin { tenant: &r.tenant };
    DeleteParkPolicyRequest => |r| Needs::TenantAdmin { tenant: &r.tenant };
    GrantParkPolicyRequest => |r| Needs::TenantAdmin { tenant: &r.tenant };
    GetParkPolicyRequest => |r| Needs::TenantMember { tenant: &r.tenant };
    ListParkPoliciesRequest => |r| Needs::TenantMember { tenant: &r.tenant };
    // Directory: a call group is its owner's.
    PutCallGroupRequest => |r| Needs::OwnsGroup {
        tenant: &r.tenant,
        owner: r.group.as_ref().map(|g| g.owner.as_str()).unwrap_or_default(),
    };
    DeleteCallGroupRequest => |r| Needs::OwnsGroup { tenant: &r.tenant, owner: &r.owner };
    GetCallGroupRequest => |r| Needs::TenantMember { tenant: &r.tenant };
    // Calls: the acting party.
    DialRequest => |r| party_needs(&r.tenant, &r.from, "from");
    AnswerRequest => |r| Needs::ActAs { tenant: &r.tenant, extension: &r.by, field: "by" }, call Some(r.call_id);
    HangupRequest => |r| party_needs(&r.tenant, &r.by, "by"), call Some(r.call_id);
    GetCallRequest => |r| Needs::TenantMember { tenant: &r.tenant }, call Some(r.call_id);
    ListCallsRequest => |r| Needs::TenantMember { tenant: &r.tenant };
    // Pickup: the picker.
    DirectedPickupRequest => |r| Needs::ActAs { tenant: &r.tenant, extension: &r.picker, field: "picker" };
    GroupPickupRequest => |r| Needs::ActAs { tenant: &r.tenant, extension: &r.picker, field: "picker" };
    NamedPickupRequest => |r| Needs::ActAs { tenant: &r.tenant, extension: &r.picker, field: "picker" };
    BlfPickupRequest => |r| Needs::ActAs { tenant: &r.tenant, extension: &r.picker, field: "picker" }, call r.call_id;
    // Park: the parker and the retriever.
    ParkRequest => |r| Needs::ActAs { tenant: &r.tenant, extension: &r.by, field: "by" }, call Some(r.call_id);
    RetrieveRequest => |r| Needs::ActAs { tenant: &r.tenant, extension: &r.by, field: "by" };
    ListParkedRequest => |r| Needs::TenantMember { tenant: &r.tenant };
    // Presence: a watcher sees callers on lamps, so it is an acting
    // extension; lamps without a watcher are tenant-readable.
    WatchLampsRequest => |r| if r.watcher.is_empty() {
        Needs::TenantMember { tenant: &r.tenant }
    } else {
        Needs::ActAs { tenant: &r.tenant, extension: &r.watcher, field: "watcher" }
    };
    NotificationsRequest => |r| if r.extension.is_empty() {
        Needs::TenantAdmin { tenant: &r.tenant }
    } else {
        Needs::ActAs { tenant: &r.tenant, extension: &r.extension, field: "extension" }
    };
    // Registrar: the SIP edge's, acting for the tenant's phones. A phone's
    // own token must not register contacts or probe passwords.
    AuthenticateRequest => |r| Needs::TenantAdmin { tenant: &r.tenant };
    RegisterRequest => |r| Needs::TenantAdmin { tenant: &r.tenant };
    LookupRequest => |r| Needs::TenantAdmin { tenant: &r.tenant };
    // Cluster: the carrier's.
    StatusRequest => |_r| Needs::ClusterAdmin;
    AddNodeRequest => |_r| Needs::ClusterAdmin;
    NoopRequest => |_r| Needs::ClusterAdmin;
    RemoveNodeRequest => |_r| Needs::ClusterAdmin;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(role: Role, tenant: Option<&str>, extension: Option<&str>) -> TokenConfig {
        TokenConfig {
            token: format!(
                "secret-{}-{}-{}",
                role.as_str(),
                tenant.unwrap_or("-"),
                extension.unwrap_or("-")
            ),
            role,
            tenant: tenant.map(str::to_string),
            extension: extension.map(str::to_string),
        }
    }

    fn principal(t: &TokenConfig) -> Principal {
        t.principal(0).expect("valid token")
    }

    #[test]
    fn extension_users_act_only_as_themselves_in_their_tenant() {
        let me = principal(&token(Role::ExtensionUser, Some("acme"), Some("101")));
        let act = |tenant, extension| Needs::ActAs {
            tenant,
            extension,
            field: "picker",
        };
        assert!(me.may(act("acme", "101")).is_ok());
        assert_eq!(
            me.may(act("acme", "102")).unwrap_err().code(),
            tonic::Code::PermissionDenied
        );
        assert_eq!(
            me.may(act("globex", "101")).unwrap_err().code(),
            tonic::Code::PermissionDenied
        );
        assert!(
            me.may(Needs::OwnsGroup {
                tenant: "acme",
                owner: "101"
            })
            .is_ok()
        );
        assert!(
            me.may(Needs::OwnsGroup {
                tenant: "acme",
                owner: "102"
            })
            .is_err()
        );
        assert!(me.may(Needs::TenantAdmin { tenant: "acme" }).is_err());
        assert!(me.may(Needs::TenantMember { tenant: "acme" }).is_ok());
        assert!(me.may(Needs::TenantMember { tenant: "globex" }).is_err());
        assert!(me.may(Needs::ClusterAdmin).is_err());
    }

    #[test]
    fn tenant_admins_administer_only_their_tenant() {
        let admin = principal(&token(Role::TenantAdmin, Some("acme"), None));
        assert!(admin.may(Needs::TenantAdmin { tenant: "acme" }).is_ok());
        assert!(
            admin
                .may(Needs::ActAs {
                    tenant: "acme",
                    extension: "102",
                    field: "by"
                })
                .is_ok()
        );
        assert!(admin.may(Needs::TenantAdmin { tenant: "globex" }).is_err());
        assert!(admin.may(Needs::ClusterAdmin).is_err());
    }

    #[test]
    fn token_entries_are_checked_naming_the_key() {
        let bad = [
            (
                token(Role::ClusterAdmin, Some("acme"), None),
                "tokens[0].tenant",
            ),
            (token(Role::TenantAdmin, None, None), "tokens[0].tenant"),
            (
                token(Role::TenantAdmin, Some("acme"), Some("101")),
                "tokens[0].extension",
            ),
            (
                token(Role::ExtensionUser, Some("acme"), None),
                "tokens[0].extension",
            ),
            (
                TokenConfig {
                    token: "short".into(),
                    ..token(Role::ClusterAdmin, None, None)
                },
                "tokens[0].token",
            ),
        ];
        for (entry, key) in bad {
            let (got, _) = Authorizer::from_config(&[entry]).err().expect("refused");
            assert_eq!(got, key);
        }
        let twice = [
            token(Role::ClusterAdmin, None, None),
            token(Role::ClusterAdmin, None, None),
        ];
        assert_eq!(
            Authorizer::from_config(&twice).err().expect("refused").0,
            "tokens[1].token"
        );
    }

    #[test]
    fn bearer_tokens_authenticate_and_unknown_ones_do_not() {
        let admin = token(Role::ClusterAdmin, None, None);
        let auth = Authorizer::from_config(std::slice::from_ref(&admin)).expect("valid");
        let mut md = MetadataMap::new();
        assert_eq!(
            auth.authenticate(&md).unwrap_err().code(),
            tonic::Code::Unauthenticated
        );
        md.insert(
            "authorization",
            format!("Bearer {}", admin.token).parse().expect("ascii"),
        );
        assert_eq!(
            auth.authenticate(&md).expect("known"),
            &Principal::ClusterAdmin
        );
        md.insert(
            "authorization",
            "Bearer not-a-known-token-at-all".parse().expect("ascii"),
        );
        assert_eq!(
            auth.authenticate(&md).unwrap_err().code(),
            tonic::Code::Unauthenticated
        );
        md.insert(
            "authorization",
            format!("Basic {}", admin.token).parse().expect("ascii"),
        );
        assert_eq!(
            auth.authenticate(&md).unwrap_err().code(),
            tonic::Code::Unauthenticated
        );
    }

    #[test]
    fn the_bearer_scheme_is_matched_whatever_its_case() {
        let admin = token(Role::ClusterAdmin, None, None);
        let auth = Authorizer::from_config(std::slice::from_ref(&admin)).expect("valid");
        for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
            let mut md = MetadataMap::new();
            md.insert(
                "authorization",
                format!("{scheme} {}", admin.token).parse().expect("ascii"),
            );
            assert_eq!(
                auth.authenticate(&md).expect("any case of the scheme"),
                &Principal::ClusterAdmin,
                "scheme {scheme:?}"
            );
        }
    }
}
